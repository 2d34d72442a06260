"""Upstreams that check each request the way the real API does before answering.

For the cross-model handoff tests: a history that the real API would refuse
gets the real API's 400 (its error shape and wording, from the published API
and its documented error messages), so a test fails exactly where a real
vendor would.

OpenAI Chat Completions (:class:`OpenAIValidator`):

| rule                                                          | refused with                          |
|---------------------------------------------------------------|---------------------------------------|
| ``tool_calls[].id`` at most 40 characters of ``[a-zA-Z0-9_-]`` | "string too long. Expected a string   |
|                                                               | with maximum length 40"               |
| every ``tool_call_id`` of an assistant message answered by the | "An assistant message with            |
| ``tool`` messages right after it                              | 'tool_calls' must be followed by tool |
|                                                               | messages responding to each …"        |
| a ``tool`` message answers a call of the assistant message    | "messages with role 'tool' must be a  |
| before it                                                     | response to a preceeding message with |
|                                                               | 'tool_calls'" (sic)                   |
| ``image_url`` parts only for a model with image input          | "Invalid content type. image_url is   |
|                                                               | only supported by certain models."    |

Anthropic Messages (:class:`AnthropicValidator`):

| rule                                                          | refused with                          |
|---------------------------------------------------------------|---------------------------------------|
| ``tool_use.id`` matches ``^[a-zA-Z0-9_-]+$``                   | "String should match pattern …"       |
| every ``tool_use`` answered by a ``tool_result`` in the next   | "``tool_use`` ids were found without   |
| user message                                                  | ``tool_result`` blocks immediately after" |
| every ``tool_result`` answers a ``tool_use`` of the assistant   | "unexpected ``tool_use_id`` found in   |
| message before it                                             | ``tool_result`` blocks"                 |
| a ``thinking`` block's signature was issued for this model     | "Invalid ``signature`` in ``thinking``   |
|                                                               | block"                                |
| ``redacted_thinking`` data was issued for this model           | "Invalid ``data`` in ``redacted_thinking`` block" |
| text blocks are not empty                                     | "text content blocks must be non-empty" |

Signatures are what this server issued: a hash of the model id and the
thinking text, so a signature moved to another model no longer verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from tests.support import anthropic_streams as a
from tests.support import openai_streams as o
from tests.support.scripted_server import Reply, Request, ScriptedServer

OPENAI_ID = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def signature_for(model: str, thinking: str) -> str:
    return "sig_" + hashlib.sha256(f"{model}\0{thinking}".encode()).hexdigest()[:24]


def redacted_for(model: str) -> str:
    return "enc_" + hashlib.sha256(f"redacted\0{model}".encode()).hexdigest()[:24]


class Refused(Exception):
    """The request breaks one of the API's rules."""


class _Validator(ScriptedServer):
    """Answers each valid request with the next scripted reply (a function of
    the request's model), and records refusals so a test can show them."""

    def __init__(self) -> None:
        super().__init__(handler=self._answer)
        self.replies: list[Callable[[str], list[str]]] = []
        self.refusals: list[str] = []

    def next_reply(self, make: Callable[[str], list[str]]) -> None:
        self.replies.append(make)

    def _answer(self, request: Request) -> Reply:
        body = request.json()
        try:
            self.validate(body)
        except Refused as exc:
            self.refusals.append(str(exc))
            return Reply.json(self.error_body(str(exc)), status=400)
        make = self.replies.pop(0)
        return Reply.sse(make(body["model"]))

    def validate(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def error_body(self, message: str) -> dict[str, Any]:
        raise NotImplementedError


class OpenAIValidator(_Validator):
    """Chat Completions; ``text_only`` names the models without image input."""

    def __init__(self, text_only: set[str]) -> None:
        super().__init__()
        self.text_only = text_only

    def error_body(self, message: str) -> dict[str, Any]:
        return {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        }

    def validate(self, body: dict[str, Any]) -> None:
        open_calls: list[str] = []
        answering = False  # inside the run of tool messages after tool_calls
        for n, message in enumerate(body["messages"]):
            role = message["role"]
            if role == "tool":
                if not answering or message["tool_call_id"] not in open_calls:
                    raise Refused(
                        "Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'."
                    )
                open_calls.remove(message["tool_call_id"])
                continue
            if open_calls:
                raise Refused(
                    "An assistant message with 'tool_calls' must be followed by tool messages "
                    "responding to each 'tool_call_id'. The following tool_call_ids did not "
                    f"have response messages: {', '.join(open_calls)}"
                )
            answering = False
            content = message.get("content")
            if (
                isinstance(content, list)
                and body["model"] in self.text_only
                and any(part.get("type") == "image_url" for part in content)
            ):
                raise Refused(
                    "Invalid content type. image_url is only supported by certain models."
                )
            if role == "assistant" and message.get("tool_calls"):
                for k, call in enumerate(message["tool_calls"]):
                    if not OPENAI_ID.match(call["id"]):
                        raise Refused(
                            f"Invalid 'messages[{n}].tool_calls[{k}].id': string too long or "
                            "invalid. Expected a string with maximum length 40."
                        )
                open_calls = [call["id"] for call in message["tool_calls"]]
                answering = True
        if open_calls:
            raise Refused(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. Missing: {', '.join(open_calls)}"
            )


class AnthropicValidator(_Validator):
    def error_body(self, message: str) -> dict[str, Any]:
        return a.error_body("invalid_request_error", message)

    def validate(self, body: dict[str, Any]) -> None:
        model = body["model"]
        open_uses: list[str] = []
        for n, message in enumerate(body["messages"]):
            blocks = message["content"]
            if isinstance(blocks, str):
                blocks = [{"type": "text", "text": blocks}]
            results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
            for used in results:
                if used not in open_uses:
                    raise Refused(
                        f"messages.{n}.content: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {used}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message."
                    )
            missing = [u for u in open_uses if u not in results]
            if missing:
                raise Refused(
                    f"messages.{n}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block in the next message."
                )
            open_uses = []
            for k, block in enumerate(blocks):
                kind = block["type"]
                where = f"messages.{n}.content.{k}"
                if kind == "text" and not block["text"]:
                    raise Refused(f"{where}: text content blocks must be non-empty")
                if kind == "thinking" and block.get("signature") != signature_for(
                    model, block["thinking"]
                ):
                    raise Refused(f"{where}: Invalid `signature` in `thinking` block")
                if kind == "redacted_thinking" and block.get("data") != redacted_for(model):
                    raise Refused(f"{where}: Invalid `data` in `redacted_thinking` block")
                if kind == "tool_use":
                    if not ANTHROPIC_ID.match(block["id"]):
                        raise Refused(
                            f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                        )
                    open_uses.append(block["id"])


# -- replies ---------------------------------------------------------------------


def anthropic_reply(
    *,
    thinking: str = "",
    redacted: bool = False,
    text: str = "",
    tool: tuple[str, str, dict[str, Any]] | None = None,
) -> Callable[[str], list[str]]:
    """A reply signed for the model that is asked (known only per request)."""

    def make(model: str) -> list[str]:
        events = [a.message_start(model=model)]
        index = 0
        if thinking:
            events += [
                a.thinking_start(index),
                a.thinking_delta(index, thinking),
                a.signature_delta(index, signature_for(model, thinking)),
                a.block_stop(index),
            ]
            index += 1
        if redacted:
            events += [a.redacted_thinking(index, redacted_for(model)), a.block_stop(index)]
            index += 1
        if text:
            events += [a.text_start(index), a.text_delta(index, text), a.block_stop(index)]
            index += 1
        if tool is not None:
            tool_id, name, arguments = tool
            events += [
                a.tool_start(index, tool_id, name),
                a.input_json_delta(index, json.dumps(arguments)),
                a.block_stop(index),
            ]
        stop = "tool_use" if tool is not None else "end_turn"
        return [*events, a.message_delta(stop, 10), a.message_stop()]

    return make


def openai_reply(
    *, text: str = "", tool: tuple[str, str, dict[str, Any]] | None = None
) -> Callable[[str], list[str]]:
    def make(model: str) -> list[str]:
        chunks = [o.chunk({"role": "assistant", "content": ""})]
        if text:
            chunks.append(o.chunk({"content": text}))
        if tool is not None:
            tool_id, name, arguments = tool
            chunks.append(
                o.chunk(
                    {
                        "tool_calls": [
                            o.tool_fragment(
                                0, id=tool_id, name=name, arguments=json.dumps(arguments)
                            )
                        ]
                    }
                )
            )
        chunks.append(o.chunk({}, finish_reason="tool_calls" if tool else "stop"))
        return o.sse(chunks)

    return make


# -- the native protocols ----------------------------------------------------------
#
# OpenAI Responses (:class:`ResponsesValidator`, ``POST /v1/responses``):
#
# | rule                                                        | refused with                       |
# |-------------------------------------------------------------|------------------------------------|
# | every ``function_call`` answered by a ``function_call_output`` | "No tool output found for function |
# | with its ``call_id``                                         | call {call_id}."                   |
# | every ``function_call_output`` answers an earlier call       | "No tool call found for function   |
# |                                                             | call output with call_id …"        |
# | ``call_id`` at most 64 characters                            | "string too long"                  |
# | a ``reasoning`` item's ``encrypted_content`` was issued for  | "The encrypted content … could not |
# | this model                                                  | be verified."                      |
# | ``input_image`` only for models with image input             | "Invalid content type …"           |
#
# Gemini (:class:`GeminiValidator`, ``POST /v1beta/models/{model}:streamGenerateContent``):
#
# | rule                                                        | refused with                       |
# |-------------------------------------------------------------|------------------------------------|
# | a ``functionResponse`` turn comes right after a function     | "Please ensure that function       |
# | call turn, one response part per call part                  | response turn comes immediately    |
# |                                                             | after a function call turn." / "… the number of function response parts is equal to the number of function call parts …" |
# | a function call turn is answered before the next turn        | the same                           |
# | a ``thoughtSignature`` was issued for this model (or is the  | "Corrupted thought signature."     |
# | documented ``skip_thought_signature_validator``)             |                                    |
#
# Ollama (:class:`OllamaValidator`, ``POST /api/chat``): Ollama checks shapes,
# in Go's words: ``tool_calls[].function.arguments`` must be an object ("json:
# cannot unmarshal string into Go struct field …"), ``images`` valid base64
# ("illegal base64 data at input byte N"), and a model without vision refuses
# images ("this model is missing data required for image input").

SKIP_SIGNATURE = "skip_thought_signature_validator"


def encrypted_for(model: str, text: str) -> str:
    return "gAAAA" + hashlib.sha256(f"enc\0{model}\0{text}".encode()).hexdigest()[:24]


def gemini_signature_for(model: str, text: str) -> str:
    return base64.b64encode(hashlib.sha256(f"gem\0{model}\0{text}".encode()).digest()).decode()


class ResponsesValidator(_Validator):
    def __init__(self, text_only: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.text_only = set(text_only)

    def error_body(self, message: str) -> dict[str, Any]:
        return {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "input",
                "code": None,
            }
        }

    def validate(self, body: dict[str, Any]) -> None:
        model = body["model"]
        calls: list[str] = []
        answered: set[str] = set()
        for n, item in enumerate(body["input"]):
            kind = item.get("type", "message")
            if kind == "function_call":
                if len(item["call_id"]) > 64:
                    raise Refused(
                        f"Invalid 'input[{n}].call_id': string too long. Expected a string with maximum length 64."
                    )
                calls.append(item["call_id"])
            elif kind == "function_call_output":
                if item["call_id"] not in calls:
                    raise Refused(
                        f"No tool call found for function call output with call_id {item['call_id']}."
                    )
                answered.add(item["call_id"])
            elif kind == "reasoning":
                summary = "".join(s["text"] for s in item.get("summary", []))
                if item.get("encrypted_content") != encrypted_for(model, summary):
                    raise Refused(
                        f"The encrypted content for item input[{n}] could not be verified."
                    )
            elif kind == "message":
                content = item["content"]
                if (
                    isinstance(content, list)
                    and model in self.text_only
                    and any(p.get("type") == "input_image" for p in content)
                ):
                    raise Refused(
                        "Invalid content type. input_image is only supported by certain models."
                    )
        for call_id in calls:
            if call_id not in answered:
                raise Refused(f"No tool output found for function call {call_id}.")


class GeminiValidator(_Validator):
    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}

    def _answer(self, request: Request) -> Reply:
        model = request.path.split("/models/", 1)[1].split(":", 1)[0]
        body = request.json()
        body["model"] = model
        request.body = json.dumps(body).encode()
        return super()._answer(request)

    def validate(self, body: dict[str, Any]) -> None:
        model = body["model"]
        expected = 0  # function call parts of the previous turn still to answer
        for turn in body["contents"]:
            parts = turn["parts"]
            responses = sum(1 for p in parts if "functionResponse" in p)
            if responses and responses != expected:
                raise Refused(
                    "Please ensure that function response turn comes immediately after a function "
                    "call turn."
                    if not expected
                    else "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            if expected and not responses:
                raise Refused(
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            expected = sum(1 for p in parts if "functionCall" in p)
            for part in parts:
                signature = part.get("thoughtSignature")
                if signature is None or signature == SKIP_SIGNATURE:
                    continue
                text = part.get("text") or json.dumps(part.get("functionCall", {}).get("name"))
                if signature != gemini_signature_for(model, text):
                    raise Refused("Corrupted thought signature.")


class OllamaValidator(_Validator):
    def __init__(self, text_only: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.text_only = set(text_only)

    def _answer(self, request: Request) -> Reply:
        reply = super()._answer(request)
        if reply.status == 200:
            reply.headers = {"content-type": "application/x-ndjson"}
        return reply

    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": message}

    def validate(self, body: dict[str, Any]) -> None:
        for message in body["messages"]:
            if message["role"] not in ("system", "user", "assistant", "tool"):
                raise Refused(f"invalid role: {message['role']}")
            if not isinstance(message.get("content", ""), str):
                raise Refused(
                    "json: cannot unmarshal array into Go struct field Message.messages.content of type string"
                )
            for call in message.get("tool_calls") or []:
                if not isinstance(call["function"]["arguments"], dict):
                    raise Refused(
                        "json: cannot unmarshal string into Go struct field "
                        "ToolCallFunction.messages.tool_calls.function.arguments of type "
                        "api.ToolCallFunctionArguments"
                    )
            images = message.get("images") or []
            if images and body["model"] in self.text_only:
                raise Refused("this model is missing data required for image input")
            for image in images:
                try:
                    base64.b64decode(image, validate=True)
                except ValueError:
                    raise Refused("illegal base64 data at input byte 0") from None


def responses_reply(
    *, reasoning: str = "", text: str = "", tool: tuple[str, str, dict[str, Any]] | None = None
) -> Callable[[str], list[str]]:
    from tests.support.responses_streams import Transcript, usage

    def make(model: str) -> list[str]:
        transcript = Transcript()
        if reasoning:
            transcript.reasoning([[reasoning]], encrypted=encrypted_for(model, reasoning))
        if text:
            transcript.message([text])
        if tool is not None:
            call_id, name, arguments = tool
            transcript.function_calls([(call_id, name, [json.dumps(arguments)])])
        transcript.completed(usage(10, 5))
        return [frame.decode() for frame in transcript.frames()]

    return make


def gemini_reply(
    *, thought: str = "", text: str = "", tool: tuple[str, str, dict[str, Any]] | None = None
) -> Callable[[str], list[str]]:
    from tests.support import gemini_streams as g

    def make(model: str) -> list[str]:
        parts: list[dict[str, Any]] = []
        if thought:
            parts.append(
                {
                    "text": thought,
                    "thought": True,
                    "thoughtSignature": gemini_signature_for(model, thought),
                }
            )
        if text:
            parts.append({"text": text})
        if tool is not None:
            call_id, name, arguments = tool
            parts.append(
                {
                    "functionCall": {"id": call_id, "name": name, "args": arguments},
                    "thoughtSignature": gemini_signature_for(model, json.dumps(name)),
                }
            )
        chunks = [g.chunk(parts, finish="STOP", usage=g.usage(10, 5))]
        return [frame.decode() for frame in g.frames(chunks)]

    return make


def ollama_reply(
    *, thinking: str = "", text: str = "", tool: tuple[str, dict[str, Any]] | None = None
) -> Callable[[str], list[str]]:
    from tests.support import ollama_streams as ol

    def make(model: str) -> list[str]:
        lines = []
        if thinking:
            lines.append(ol.line(thinking=thinking))
        if text:
            lines.append(ol.line(text))
        if tool is not None:
            name, arguments = tool
            lines.append(ol.line(tool_calls=[{"function": {"name": name, "arguments": arguments}}]))
        lines.append(ol.final())
        return [frame.decode() for frame in ol.frames(lines)]

    return make
