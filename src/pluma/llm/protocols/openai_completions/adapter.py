"""The ``openai-completions`` adapter: request out, chunks in.

It only glues the parts together: :mod:`.compat` says what the upstream
accepts, :mod:`.request` builds the body, :mod:`pluma.llm.transport.http`
sends it (retries, timeouts, HTTP errors with the upstream's message) and
decodes SSE, and :class:`.stream.ChunkParser` turns chunks into events.

An upstream that ignores ``stream: true`` and answers with one JSON
``chat.completion`` is accepted too: the completion is read as a single chunk.
An SSE event named ``error`` ends the stream with its message, whether its
data is an ``{"error": …}`` object or plain text. A connection that breaks
after ``finish_reason`` (only usage or ``[DONE]`` lost) still ends in
``done``, with a ``stream_cut_after_finish`` diagnostic on the message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from pluma.llm.errors import ConfigurationError, ProviderError
from pluma.llm.events import Event
from pluma.llm.keys import explain_refused_without_key
from pluma.llm.options import StreamOptions
from pluma.llm.protocols.drive import merged_headers
from pluma.llm.protocols.openai_completions.compat import detect_compat
from pluma.llm.protocols.openai_completions.options import PROTOCOL
from pluma.llm.protocols.openai_completions.request import build_request, check_controls
from pluma.llm.protocols.openai_completions.stream import ChunkParser
from pluma.llm.redact import carries_credentials, secrets_of
from pluma.llm.transport.http import finish_body, open_stream, read_body, read_sse
from pluma.llm.types import AssistantMessage, Context, Diagnostic, Model
from pluma.llm.writer import StreamWriter


def endpoint(model: Model, options: StreamOptions) -> str:
    """``{base_url}/chat/completions``, the option's base URL winning."""
    base = (options.base_url or model.base_url).rstrip("/")
    return f"{base}/chat/completions"


def request_headers(model: Model, options: StreamOptions) -> dict[str, str]:
    """Bearer auth when there is a key, then the model's and the call's headers."""
    own = {"authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    return merged_headers(own, model.headers, options.headers)


class OpenAICompletionsAdapter:
    """Streams a model over OpenAI Chat Completions (OpenAI and compatible servers)."""

    protocol = PROTOCOL

    def check(self, model: Model, context: Context, options: StreamOptions) -> None:
        """Raise :class:`ConfigurationError` for controls this upstream lacks."""
        check_controls(options, detect_compat(model, options.base_url), model.id)

    async def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | None]:
        message = AssistantMessage(protocol=PROTOCOL, provider=model.provider, model=model.id)
        headers = request_headers(model, options)
        writer = StreamWriter(message, secrets=secrets_of(options.api_key, headers))
        if not (options.base_url or model.base_url):
            yield writer.fail(
                ConfigurationError(
                    f"model {model.id!r} has no base_url; set Model.base_url or "
                    "StreamOptions.base_url (e.g. https://api.openai.com/v1)"
                )
            )
            return
        try:
            compat = detect_compat(model, options.base_url)
            body = build_request(model, context, options, compat)
        except ConfigurationError as exc:
            yield writer.fail(exc)
            return
        parser = ChunkParser(writer, model)
        try:
            async with open_stream(
                endpoint(model, options),
                headers=headers,
                body=body,
                options=options,
            ) as response:
                yield writer.start()
                if response.headers.get("content-type", "").startswith("application/json"):
                    whole = await read_body(response, options.timeouts)
                    for event in parser.feed(_completion_as_chunk(whole)):
                        yield event
                else:
                    async for sse in read_sse(response, options.timeouts):
                        if sse.event == "error":
                            events = parser.feed(_named_error(sse.data))
                        else:
                            events = parser.feed_data(sse.data)
                        # Only the parser ends the writer, so one read serves both checks.
                        finished = writer.finished
                        if finished:
                            await finish_body(response)
                        for event in events:
                            yield event
                        if finished:
                            break
                for event in parser.finish():
                    yield event
        except ProviderError as exc:
            if not carries_credentials(options.api_key, headers):
                base = options.base_url or model.base_url
                explain_refused_without_key(exc, model.provider, base)
            if parser.finish_reason is not None:
                # The model had finished; only the trailer (usage, [DONE]) was
                # lost. Keep the complete reply and say what was missed.
                message.diagnostics.append(
                    Diagnostic(
                        kind="stream_cut_after_finish",
                        message=f"the stream broke after the reply was complete: {exc}",
                    )
                )
                events = parser.finish()
            else:
                events = parser.fail(exc)
            for event in events:
                yield event


def _named_error(data: str) -> dict[str, Any]:
    """An ``event: error`` payload as an error chunk, JSON or plain text."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        return payload
    if isinstance(payload, dict) and payload.get("message"):
        return {"error": payload}
    return {"error": {"message": data.strip() or "the upstream reported an error mid-stream"}}


def _completion_as_chunk(raw: bytes) -> dict[str, Any]:
    """A whole ``chat.completion`` rewritten as one chunk (message → delta)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace")[:200]
        return {"error": {"message": f"the upstream sent malformed JSON: {text!r}"}}
    if not isinstance(payload, dict):
        return {"error": {"message": "the upstream sent JSON that is not an object"}}
    if payload.get("error"):
        return payload
    choices = []
    for choice in payload.get("choices") or []:
        if isinstance(choice, dict):
            choices.append(
                {
                    "index": choice.get("index", 0),
                    "delta": choice.get("message") or {},
                    "finish_reason": choice.get("finish_reason") or "stop",
                }
            )
    return {**payload, "choices": choices}
