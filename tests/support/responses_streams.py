"""OpenAI Responses API streams for tests, built from the published streaming
events reference (``response.created`` … ``response.completed``), and the
official ``openai`` SDK's own accumulator as the judge.

:class:`Transcript` writes the events of one response the way the API does:
every item is announced (``output_item.added``), streamed (deltas) and
finished (``output_item.done`` with the whole item), and the terminal
``response.completed`` / ``incomplete`` / ``failed`` carries the full output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState

from tests.support.openai_streams import SSL_CONTEXT

MODEL = "gpt-5-test"
RESPONSE_ID = "resp_0123456789abcdef"


class Transcript:
    """Builds the event list of one streamed response."""

    def __init__(self, response_id: str = RESPONSE_ID) -> None:
        self.id = response_id
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self.emit("response.created", response=self.response("in_progress", output=[]))
        self.emit("response.in_progress", response=self.response("in_progress", output=[]))

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"type": kind, "sequence_number": self._seq, **fields})
        self._seq += 1

    def response(
        self, status: str, output: list[dict[str, Any]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": 1_760_000_000,
            "status": status,
            "model": MODEL,
            "output": list(self.output) if output is None else output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "temperature": 1.0,
            "top_p": 1.0,
            "instructions": None,
            "metadata": {},
            "error": None,
            "incomplete_details": None,
            "usage": None,
            **extra,
        }

    def reasoning(self, parts: list[list[str]], encrypted: str | None = "gAAAAB-enc") -> None:
        index = len(self.output)
        item_id = f"rs_{index}"
        self.emit(
            "response.output_item.added",
            output_index=index,
            item={"id": item_id, "type": "reasoning", "summary": []},
        )
        summary = []
        for number, pieces in enumerate(parts):
            part = {"type": "summary_text", "text": ""}
            self.emit(
                "response.reasoning_summary_part.added",
                item_id=item_id,
                output_index=index,
                summary_index=number,
                part=part,
            )
            for piece in pieces:
                self.emit(
                    "response.reasoning_summary_text.delta",
                    item_id=item_id,
                    output_index=index,
                    summary_index=number,
                    delta=piece,
                )
            text = "".join(pieces)
            self.emit(
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=index,
                summary_index=number,
                text=text,
            )
            done = {"type": "summary_text", "text": text}
            self.emit(
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=index,
                summary_index=number,
                part=done,
            )
            summary.append(done)
        item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
        if encrypted is not None:
            item["encrypted_content"] = encrypted
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def message(self, pieces: list[str], *, refusal: bool = False, finish: bool = True) -> None:
        index = len(self.output)
        item_id = f"msg_{index}"
        self.emit(
            "response.output_item.added",
            output_index=index,
            item={
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        )
        kind = "refusal" if refusal else "output_text"
        empty = (
            {"type": "refusal", "refusal": ""}
            if refusal
            else {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        )
        self.emit(
            "response.content_part.added",
            item_id=item_id,
            output_index=index,
            content_index=0,
            part=empty,
        )
        for piece in pieces:
            self.emit(
                f"response.{kind}.delta",
                item_id=item_id,
                output_index=index,
                content_index=0,
                delta=piece,
                **({} if refusal else {"logprobs": []}),
            )
        text = "".join(pieces)
        part = (
            {"type": "refusal", "refusal": text}
            if refusal
            else {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        )
        item = {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [part],
        }
        if finish:
            if refusal:
                self.emit(
                    "response.refusal.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    refusal=text,
                )
            else:
                self.emit(
                    "response.output_text.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            self.emit(
                "response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
            )
            self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def function_calls(self, calls: list[tuple[str, str, list[str]]]) -> None:
        """Parallel calls: each item announced, its arguments streamed, finished."""
        for call_id, name, pieces in calls:
            index = len(self.output)
            item_id = f"fc_{index}"
            self.emit(
                "response.output_item.added",
                output_index=index,
                item={
                    "id": item_id,
                    "type": "function_call",
                    "call_id": call_id,
                    "name": name,
                    "arguments": "",
                    "status": "in_progress",
                },
            )
            for piece in pieces:
                self.emit(
                    "response.function_call_arguments.delta",
                    item_id=item_id,
                    output_index=index,
                    delta=piece,
                )
            arguments = "".join(pieces)
            self.emit(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=arguments,
                name=name,
            )
            item = {
                "id": item_id,
                "type": "function_call",
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
                "status": "completed",
            }
            self.emit("response.output_item.done", output_index=index, item=item)
            self.output.append(item)

    def completed(self, usage: dict[str, Any]) -> None:
        self.emit("response.completed", response=self.response("completed", usage=usage))

    def incomplete(self, reason: str, usage: dict[str, Any]) -> None:
        self.emit(
            "response.incomplete",
            response=self.response(
                "incomplete", usage=usage, incomplete_details={"reason": reason}
            ),
        )

    def failed(self, code: str, message: str) -> None:
        self.emit(
            "response.failed",
            response=self.response("failed", error={"code": code, "message": message}),
        )

    def error(self, code: str, message: str) -> None:
        self.emit("error", code=code, message=message, param=None)

    def frames(self) -> list[bytes]:
        """One SSE event per item, named by its type, as the API frames them."""
        return [
            f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
            for event in self.events
        ]


def usage(
    input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0, written: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


@dataclass
class SDKResult:
    """The SDK's view of a stream: the final (or last) response and any failure."""

    response: Any = None
    terminal: str | None = None
    error: BaseException | None = None
    error_event: Any = None
    events: list[Any] = field(default_factory=list)


def client_for(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=url + "/v1",
        api_key="x",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(verify=SSL_CONTEXT),
    )


async def sdk_final(url: str) -> Any:
    """``client.responses.stream(...)`` → ``get_final_response()`` (the SDK's
    accumulator, for streams that complete)."""
    client = client_for(url)
    try:
        async with client.responses.stream(model=MODEL, input="hi") as stream:
            return await stream.get_final_response()
    finally:
        await client.close()


async def sdk_events(url: str) -> SDKResult:
    """Every typed event of ``responses.create(stream=True)``, fed to the SDK's
    ``ResponseStreamState``; the snapshot of a stream that does not complete is
    the output the SDK attaches to its ``incomplete`` / ``failed`` event, or
    its running snapshot."""
    client = client_for(url)
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    result = SDKResult()
    try:
        stream = await client.responses.create(model=MODEL, input="hi", stream=True)
        async for raw in stream:
            for event in state.handle_event(raw):
                result.events.append(event)
                if event.type in ("response.completed", "response.incomplete", "response.failed"):
                    result.response = event.response
                    result.terminal = event.type
                elif event.type == "error":
                    result.error_event = event
    except Exception as exc:  # the SDK's own failure is part of the verdict
        result.error = exc
    finally:
        await client.close()
    if result.response is None:
        result.response = state._ResponseStreamState__current_snapshot  # type: ignore[attr-defined]
    return result


def summary_of_sdk(response: Any) -> dict[str, Any]:
    """The SDK's response in Pluma's block terms."""
    blocks: list[tuple[Any, ...]] = []
    for item in response.output or []:
        if item.type == "reasoning":
            text = "\n\n".join(s.text for s in item.summary or [])
            blocks.append(("thinking", text, item.encrypted_content))
        elif item.type == "message":
            for part in item.content:
                blocks.append(("text", part.text if part.type == "output_text" else part.refusal))
        elif item.type == "function_call":
            blocks.append(
                (
                    "call",
                    item.call_id,
                    item.name,
                    json.loads(item.arguments) if item.arguments else {},
                )
            )
    summary: dict[str, Any] = {"blocks": blocks, "id": response.id}
    if response.usage is not None:
        u = response.usage
        details = u.input_tokens_details
        cached = (details.cached_tokens or 0) if details else 0
        written = (getattr(details, "cache_write_tokens", 0) or 0) if details else 0
        summary["usage"] = (
            u.input_tokens - cached - written,
            cached,
            written,
            u.output_tokens,
            u.total_tokens,
        )
    return summary


def summary_of_pluma(message: Any, *, usage: bool = True) -> dict[str, Any]:
    from pluma import llm

    blocks: list[tuple[Any, ...]] = []
    for block in message.content:
        if isinstance(block, llm.ThinkingContent):
            blocks.append(("thinking", block.thinking, block.signature))
        elif isinstance(block, llm.TextContent):
            blocks.append(("text", block.text))
        elif isinstance(block, llm.ToolCall):
            blocks.append(("call", block.id, block.name, block.arguments))
    summary: dict[str, Any] = {"blocks": blocks, "id": message.response_id}
    if usage:
        u = message.usage
        summary["usage"] = (u.input, u.cache_read, u.cache_write, u.output, u.total)
    return summary
