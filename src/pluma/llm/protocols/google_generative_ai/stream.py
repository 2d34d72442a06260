"""Gemini ``streamGenerateContent`` chunks → neutral events, independent of HTTP.

Each SSE ``data:`` payload is a whole ``GenerateContentResponse``; only the
first candidate is assembled. :class:`GeminiParser` takes the decoded chunks.

| chunk field                                  | effect                                                |
|----------------------------------------------|-------------------------------------------------------|
| ``responseId`` / ``modelVersion``            | ``message.response_id`` / ``message.model`` (first)   |
| part ``{text, thought: true}``               | thinking block (consecutive thought parts join)       |
| part ``{text}``                              | text block (consecutive text parts join)              |
| ``thoughtSignature`` on a thought part       | ``ThinkingContent.signature``                         |
| ``thoughtSignature`` on a text part          | ``TextContent.text_signature`` (an empty text part    |
|                                              | carrying only a signature signs the open block of its |
|                                              | kind, else opens an empty block that carries it)      |
| part ``{functionCall: {id?, name, args}}``   | a whole tool call (start, one delta, end); no ``id``  |
|                                              | → ``pluma_call_<n>_<random>``; its                    |
|                                              | ``thoughtSignature`` → ``ToolCall.thought_signature`` |
| other parts (``inlineData``, code execution) | left out, with a diagnostic                           |
| ``finishReason``                             | remembered (with ``finishMessage``), see below        |
| ``usageMetadata``                            | usage (cumulative: the last one wins; set on the      |
|                                              | message when the stream ends)                         |
| ``promptFeedback.blockReason``               | terminal error: the prompt was blocked                |
| ``{"error": {code, message, status}}``       | terminal error with the upstream's message            |
| end of input                                 | open blocks end; ``done``, or an error when no        |
|                                              | ``finishReason`` came (the stream was cut)            |

finishReason → stop reason: ``STOP`` → stop (toolUse when the reply holds
tool calls), ``MAX_TOKENS`` → length; ``SAFETY``, ``RECITATION``,
``LANGUAGE``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``,
``IMAGE_SAFETY``, ``MALFORMED_FUNCTION_CALL``, ``UNEXPECTED_TOOL_CALL``,
``TOO_MANY_TOOL_CALLS``, ``OTHER`` and any reason added later → error
naming the reason (and quoting ``finishMessage``), content kept.

Usage: ``promptTokenCount`` counts cached tokens, so ``input`` =
``promptTokenCount`` + ``toolUsePromptTokenCount`` −
``cachedContentTokenCount``, ``cache_read`` = ``cachedContentTokenCount``,
``output`` = ``candidatesTokenCount`` + ``thoughtsTokenCount`` (thoughts are
billed as output); ``total`` then equals ``totalTokenCount``.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from pluma.llm.errors import ProviderError
from pluma.llm.events import Event
from pluma.llm.protocols.google_generative_ai.request import SYNTHETIC_ID_PREFIX
from pluma.llm.protocols.parsing import OpenBlock, count, decode_object, one
from pluma.llm.types import (
    Diagnostic,
    Model,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    calculate_cost,
)
from pluma.llm.writer import StreamWriter

FINISH_REASONS: dict[str, StopReason] = {"STOP": "stop", "MAX_TOKENS": "length"}

_REASON_WORDS: dict[str, str] = {
    "SAFETY": "the reply was stopped by Gemini's safety filters",
    "RECITATION": "the reply was stopped because it recited training data (RECITATION)",
    "LANGUAGE": "the reply was stopped: the language is not supported",
    "BLOCKLIST": "the reply was stopped: it contained blocked terms",
    "PROHIBITED_CONTENT": "the reply was stopped: prohibited content",
    "SPII": "the reply was stopped: it contained sensitive personal information",
    "IMAGE_SAFETY": "the reply was stopped by Gemini's image safety filters",
    "MALFORMED_FUNCTION_CALL": "the model produced a malformed function call",
    "UNEXPECTED_TOOL_CALL": "the model called a tool that was not offered",
    "TOO_MANY_TOOL_CALLS": "the model made too many tool calls in a row",
}


class GeminiParser:
    """Turns one Gemini stream into neutral events through ``writer``.

    ``feed`` takes a decoded chunk, ``feed_data`` the raw text of one SSE
    ``data:`` payload; ``finish`` ends the stream at end of input. After the
    terminal event every call returns ``[]``.
    """

    __slots__ = (
        "_calls",
        "_finish_message",
        "_finish_reason",
        "_model",
        "_open",
        "_skipped",
        "_usage_raw",
        "message",
        "writer",
    )

    def __init__(self, writer: StreamWriter, model: Model) -> None:
        self.writer = writer
        self.message = writer.message
        self._model = model
        self._open = OpenBlock(writer)  # the open text/thinking block
        self._calls = 0
        self._finish_reason: str | None = None
        self._finish_message: str | None = None
        self._skipped: set[str] = set()
        # Every chunk repeats the running usage; it is read once, at the end.
        self._usage_raw: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.writer.finished

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    def feed_data(self, data: str | bytes) -> list[Event]:
        """One SSE ``data:`` payload (a JSON object)."""
        if self.writer.finished:
            return []
        chunk = decode_object(data, "chunk")
        if isinstance(chunk, ProviderError):
            return self.fail(chunk)
        if self._open.text is not None:
            hot = self._more_text(chunk)
            if hot is not None:
                return hot
        return self._chunk(chunk)

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The neutral events for one ``GenerateContentResponse``."""
        if self.writer.finished:
            return []
        if self._open.text is not None:
            hot = self._more_text(chunk)
            if hot is not None:
                return hot
        return self._chunk(chunk)

    def _more_text(self, chunk: dict[str, Any]) -> list[Event] | None:
        """The hot path: one candidate whose only part is plain text for the
        open text block, no finish reason, no error or prompt feedback. None
        when the chunk is anything else."""
        candidates = chunk.get("candidates")
        if type(candidates) is not list or len(candidates) != 1:
            return None
        candidate = candidates[0]
        if type(candidate) is not dict or "finishReason" in candidate:
            return None
        content = candidate.get("content")
        parts = content.get("parts") if type(content) is dict else None
        if type(parts) is not list or len(parts) != 1:
            return None
        part = parts[0]
        if type(part) is not dict or len(part) != 1:
            return None
        text = part.get("text")
        if not text or type(text) is not str or "error" in chunk or "promptFeedback" in chunk:
            return None
        self._open.text.append(text)  # type: ignore[union-attr]
        usage = chunk.get("usageMetadata")
        if type(usage) is dict:
            self._usage_raw = usage
        event = self.writer.text_delta(self._open.index, text)  # type: ignore[arg-type]
        return [event] if event is not None else []

    def _chunk(self, chunk: dict[str, Any]) -> list[Event]:
        message = self.message
        candidates = chunk.get("candidates")
        error = chunk.get("error")
        if error:
            return self.fail(_error(error))
        if message.response_id is None:
            rid = chunk.get("responseId")
            if isinstance(rid, str) and rid:
                message.response_id = rid
            version = chunk.get("modelVersion")
            if isinstance(version, str) and version:
                message.model = version
        out: list[Event] = []
        feedback = chunk.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            reason = str(feedback["blockReason"])
            detail = feedback.get("blockReasonMessage")
            return self.fail(
                ProviderError(
                    f"Gemini blocked the prompt ({reason})" + (f": {detail}" if detail else ""),
                    code=reason,
                )
            )
        if type(candidates) is list and candidates:
            candidate = candidates[0]
            if isinstance(candidate, dict):
                content = candidate.get("content")
                parts = content.get("parts") if isinstance(content, dict) else None
                if isinstance(parts, list):
                    for part in parts:
                        if isinstance(part, dict):
                            self._part(part, out)
                finish = candidate.get("finishReason")
                if isinstance(finish, str) and finish:
                    self._finish_reason = finish
                    finish_message = candidate.get("finishMessage")
                    if isinstance(finish_message, str) and finish_message:
                        self._finish_message = finish_message
        usage = chunk.get("usageMetadata")
        if isinstance(usage, dict):
            self._usage_raw = usage
        return out

    def feed_json(self, payload: Any) -> list[Event]:
        """A whole JSON answer: one response, or the array
        ``streamGenerateContent`` sends without ``alt=sse``; then the end."""
        out: list[Event] = []
        for chunk in payload if isinstance(payload, list) else [payload]:
            if not isinstance(chunk, dict):
                return out + self.fail(
                    ProviderError("the upstream sent JSON that is not a GenerateContentResponse")
                )
            out += self.feed(chunk)
        return out + self.finish()

    def finish(self) -> list[Event]:
        """End of input: ``done`` per the finish reason, or an error when the
        stream was cut before one came."""
        if self.writer.finished:
            return []
        out: list[Event] = []
        self._open.close(out)
        self._apply_usage()
        reason = self._finish_reason
        if reason is None:
            return out + self.fail(
                ProviderError(
                    "the upstream stream ended before the reply was finished (no "
                    "finishReason); the partial reply is kept — try again"
                )
            )
        stop = FINISH_REASONS.get(reason)
        if stop is None:
            words = _REASON_WORDS.get(reason, f"Gemini ended the reply with {reason}")
            if self._finish_message:
                words = f"{words}: {self._finish_message}"
            return out + self.fail(ProviderError(f"{words} ({reason})", code=reason))
        if stop == "stop" and self._calls:
            stop = "toolUse"
        return out + one(self.writer.done(stop))

    def fail(self, error: BaseException | str) -> list[Event]:
        """End with an error event, keeping what was assembled (usage included)."""
        if not self.writer.finished:
            self._apply_usage()
        return one(self.writer.fail(error))

    # -- parts -------------------------------------------------------------------

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        signature = part.get("thoughtSignature")
        if not isinstance(signature, str) or not signature:
            signature = None
        call = part.get("functionCall")
        if isinstance(call, dict):
            self._function_call(call, signature, out)
            return
        text = part.get("text")
        if isinstance(text, str):
            thought = part.get("thought") is True
            if text:
                self._open.append(ThinkingContent if thought else TextContent, text, out)
            if signature is not None:
                self._sign(signature, thought, out)
            return
        kind = next(iter(part), "empty")
        if kind not in self._skipped:
            self._skipped.add(kind)
            self.message.diagnostics.append(
                Diagnostic(
                    kind="ignored_part",
                    message=f"a {kind!r} part of the reply was left out (Pluma's vocabulary "
                    "has no block for it)",
                )
            )

    def _sign(self, signature: str, thought: bool, out: list[Event]) -> None:
        """A signature on a text part belongs to the block that part is in:
        the open block when it is of the part's kind, else a new empty block
        of that kind (so the signature keeps its place when sent back)."""
        kind = ThinkingContent if thought else TextContent
        index = self._open.index
        if index is None or type(self.message.content[index]) is not kind:
            target = self._open.append(kind, "", out)
        else:
            target = self.message.content[index]  # type: ignore[assignment]
        if isinstance(target, ThinkingContent):
            target.signature = signature
        elif isinstance(target, TextContent):
            target.text_signature = signature

    def _function_call(self, call: dict[str, Any], signature: str | None, out: list[Event]) -> None:
        self._open.close(out)
        name = call.get("name")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"{SYNTHETIC_ID_PREFIX}{self._calls}_{secrets.token_hex(4)}"
        self._calls += 1
        args = call.get("args")
        tool_call = ToolCall(
            call_id, name if isinstance(name, str) else "", thought_signature=signature
        )
        content = self.message.content
        index = len(content)
        content.append(tool_call)
        writer = self.writer
        out.extend(one(writer.toolcall_start(index, tool_call)))
        text = orjson.dumps(args if isinstance(args, dict) else {}).decode()
        tool_call.append_arguments(text)
        out.extend(one(writer.toolcall_delta(index, tool_call, text)))
        out.extend(one(writer.toolcall_end(index, tool_call)))

    def _apply_usage(self) -> None:
        raw = self._usage_raw
        if raw is None:
            return
        cached = count(raw.get("cachedContentTokenCount"))
        prompt = count(raw.get("promptTokenCount")) + count(raw.get("toolUsePromptTokenCount"))
        usage = self.message.usage
        usage.cache_read = cached
        usage.input = max(0, prompt - cached)
        usage.output = count(raw.get("candidatesTokenCount")) + count(raw.get("thoughtsTokenCount"))
        calculate_cost(self._model, usage)


def _error(error: Any) -> ProviderError:
    """Google's ``{"error": {"code", "message", "status"}}`` in a stream."""
    if isinstance(error, dict):
        status = error.get("status")
        code = error.get("code")
        message = str(error.get("message") or "the upstream reported an error mid-stream")
        return ProviderError(
            message + (f" ({status})" if status else ""),
            code=None if status is None else str(status),
            retryable=code in (429, 500, 503, 504),
        )
    return ProviderError(str(error))
