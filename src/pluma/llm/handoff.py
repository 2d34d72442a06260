"""Cross-model handoff: a conversation recorded with one model, sent to another.

History carries things only its own model can use: thinking signatures that
the API verifies, encrypted reasoning, tool-call ids in another vendor's
alphabet, images a text-only model refuses, tool calls the conversation never
answered. :func:`transform_messages` rewrites a history for the model about to
receive it; :class:`~pluma.llm.Client` applies it to every call before the
adapter runs, so switching models mid-conversation just works.

| in the history                                  | sent to the target model as                       |
|-------------------------------------------------|---------------------------------------------------|
| thinking (with its signature), text signatures, | kept verbatim, when the assistant message came    |
| Gemini thought signatures on tool calls          | from the same provider, protocol and model (a     |
|                                                 | field left empty, in history built by hand, is    |
|                                                 | not held against it)                              |
| thinking from another model                     | plain text of the reasoning (signature dropped);  |
|                                                 | empty thinking is dropped                         |
| redacted thinking from another model            | dropped (its payload means nothing elsewhere)     |
| a tool-call id the target protocol refuses       | a new id within the protocol's rules (table      |
|                                                 | below), the same in the call and in its result    |
| a tool call with no result before the next      | followed by a synthetic error result saying no    |
| message                                         | result was given (APIs refuse unanswered calls)   |
| an image, model without image input             | a text placeholder saying it was left out         |

Tool-call id rules per protocol (ids that already fit are kept):

| protocol                | rule                                  | source                                  |
|-------------------------|---------------------------------------|-----------------------------------------|
| ``openai-completions``  | ``[a-zA-Z0-9_-]``, at most 40         | OpenAI refuses longer ``tool_call_id``s  |
| ``openai-responses``    | ``[a-zA-Z0-9_-]``, at most 40         | as Chat Completions (``call_id``)        |
| ``anthropic-messages``  | ``^[a-zA-Z0-9_-]+$``, at most 64      | the ``tool_use.id`` pattern of the API   |
| ``google-generative-ai``| ``[a-zA-Z0-9_-]``, at most 64         | Gemini's ``functionCall.id``: a free     |
|                         |                                       | string; kept to the common alphabet     |
| ``ollama``              | ``[a-zA-Z0-9_-]``, at most 64         | Ollama pairs results by tool name; ids   |
|                         |                                       | kept to the common alphabet             |
| any other protocol      | unchanged                             | a custom adapter knows its own rules    |

A new id is the old one with other characters replaced by ``_``, cut to fit,
and a short hash of the old id appended, so two different ids never become
one. Vendor-specific narrower rules (Mistral's nine-character ids) stay in
that adapter's compat table.

Messages are never modified in place: changed messages are new objects, and
the caller's history is left as it was.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from pluma.llm.types import (
    AssistantContent,
    AssistantMessage,
    Context,
    ImageContent,
    Message,
    Model,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolResultMessage,
    UserContent,
)

IMAGE_OMITTED = "(an image was left out: this model does not accept images)"
NO_RESULT = (
    "No result was provided for this tool call (the conversation went on without it); "
    "do not assume it ran."
)


@dataclass(frozen=True, slots=True)
class ToolIdRule:
    """The tool-call ids a protocol accepts."""

    max_length: int
    pattern: re.Pattern[str] = re.compile(r"^[a-zA-Z0-9_-]+$")


TOOL_ID_RULES: dict[str, ToolIdRule] = {
    "openai-completions": ToolIdRule(40),
    "openai-responses": ToolIdRule(40),
    "anthropic-messages": ToolIdRule(64),
    "google-generative-ai": ToolIdRule(64),
    "ollama": ToolIdRule(64),
}
"""Per protocol; a protocol not listed keeps every id (see the module table)."""

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def short_hash(value: str, length: int = 8) -> str:
    """``length`` letters and digits derived from ``value`` (the same value
    always gives the same result, so a call and its result stay paired)."""
    number = int.from_bytes(hashlib.sha256(value.encode()).digest()[:12], "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALNUM))
        out.append(_ALNUM[digit])
    return "".join(out)


def fit_tool_id(tool_id: str, rule: ToolIdRule) -> str:
    """``tool_id`` as ``rule`` accepts it (unchanged when it already fits)."""
    if tool_id and len(tool_id) <= rule.max_length and rule.pattern.match(tool_id):
        return tool_id
    suffix = "_" + short_hash(tool_id)
    return _UNSAFE.sub("_", tool_id)[: rule.max_length - len(suffix)] + suffix


def same_model(message: AssistantMessage, model: Model) -> bool:
    """Whether ``message`` was produced by ``model`` (so its signatures verify).

    Upstreams often answer with a dated snapshot of the id asked for
    (``gpt-4o`` → ``gpt-4o-2024-08-06``), so that counts as the same model.
    What a message leaves unnamed (history built by hand, or decoded from a
    client that did not say) does not count against it: one naming no origin
    is taken as the target's own, one naming only the protocol as that
    protocol's, and the adapter's own replay rules then apply."""
    if message.protocol and message.protocol != model.protocol:
        return False
    if message.provider and message.provider != model.provider:
        return False
    return (
        not message.model or message.model == model.id or message.model.startswith(model.id + "-")
    )


def transform_messages(messages: list[Message], model: Model) -> list[Message]:
    """``messages`` as ``model`` can take them (see the module's tables).

    Returns the same list object when nothing needs to change, so the common
    case (a conversation with one model) costs one pass and no copies."""
    rule = TOOL_ID_RULES.get(model.protocol)
    images = "image" in model.input
    ids: dict[str, str] = {}
    out: list[Message] = []
    changed = False
    pending: list[ToolCall] = []  # calls of the last assistant message not yet answered

    def answer_pending() -> None:
        nonlocal changed
        for call in pending:
            out.append(
                ToolResultMessage(
                    tool_call_id=call.id,
                    tool_name=call.name,
                    content=[TextContent(NO_RESULT)],
                    is_error=True,
                )
            )
            changed = True
        pending.clear()

    def new_id(tool_id: str) -> str:
        if rule is None:
            return tool_id
        found = ids.get(tool_id)
        if found is None:
            found = ids[tool_id] = fit_tool_id(tool_id, rule)
        return found

    for message in messages:
        if isinstance(message, ToolResultMessage):
            wire_id = new_id(message.tool_call_id)
            pending[:] = [c for c in pending if c.id != wire_id]
            content = message.content if images else _without_images(message.content)
            if wire_id != message.tool_call_id or content is not message.content:
                message = replace(message, tool_call_id=wire_id, content=content)
                changed = True
            out.append(message)
            continue
        answer_pending()
        if isinstance(message, AssistantMessage):
            converted = _assistant(message, model, new_id)
            if converted is not message:
                changed = True
            if converted.stop_reason not in ("error", "aborted"):
                # An errored reply's calls are left out by every adapter; they need no result.
                pending = [b for b in converted.content if isinstance(b, ToolCall)]
            out.append(converted)
        else:
            if not images and not isinstance(message.content, str):
                content = _without_images(message.content)
                if content is not message.content:
                    message = replace(message, content=content)
                    changed = True
            out.append(message)
    # Calls of the very last message are the caller's to answer: left as they are.
    return out if changed else messages


def transform_context(context: Context, model: Model) -> Context:
    """``context`` with its messages transformed for ``model`` (the same
    object when nothing changed)."""
    messages = transform_messages(context.messages, model)
    if messages is context.messages:
        return context
    return replace(context, messages=messages)


def _without_images(content: list[UserContent]) -> list[UserContent]:
    if not any(isinstance(block, ImageContent) for block in content):
        return content
    return [
        TextContent(IMAGE_OMITTED) if isinstance(block, ImageContent) else block
        for block in content
    ]


def _assistant(
    message: AssistantMessage, model: Model, new_id: Callable[[str], str]
) -> AssistantMessage:
    same = same_model(message, model)
    content: list[AssistantContent] = []
    changed = False
    for block in message.content:
        if isinstance(block, ThinkingContent):
            if same:
                content.append(block)
            elif block.redacted or not block.thinking.strip():
                changed = True  # dropped
            else:
                content.append(TextContent(block.thinking))
                changed = True
        elif isinstance(block, TextContent):
            if block.text_signature is not None and not same:
                content.append(TextContent(block.text))
                changed = True
            else:
                content.append(block)
        else:
            wire_id = new_id(block.id)
            signature = block.thought_signature if same else None
            if wire_id != block.id or signature != block.thought_signature:
                block = ToolCall(wire_id, block.name, dict(block.arguments), signature)
                changed = True
            content.append(block)
    return replace(message, content=content) if changed else message
