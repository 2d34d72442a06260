"""The ``google-generative-ai`` protocol: the Gemini API's
``streamGenerateContent?alt=sse``, natively.

* :class:`GoogleGenerativeAIAdapter` — the adapter registered by default.
* :class:`GeminiParser` — Gemini chunks → neutral events, no HTTP.
* :class:`GoogleGenerativeAIOptions` — tool choice, thinking budget or level,
  safety settings, cached content, ``extra_body``.
* :func:`build_request` — the request body for a context.

Quirks, and what Pluma does about them:

| quirk                                              | handling                                        |
|----------------------------------------------------|-------------------------------------------------|
| thought signatures sit on the part they sign       | kept on that block (``ThinkingContent.signature``,|
| (thought, text or functionCall part), sometimes    | ``TextContent.text_signature``,                  |
| on an empty text part at the end of the stream     | ``ToolCall.thought_signature``) and sent back on |
|                                                    | the same part to the same model                 |
| Gemini 3 refuses a function call without its       | calls made elsewhere get the documented         |
| signature                                          | ``skip_thought_signature_validator``            |
| function calls come whole, usually without an id   | one start/delta/end each; ids synthesised       |
|                                                    | (``pluma_call_…``) and never sent back          |
| the role of the assistant is ``model``; function   | converted both ways; consecutive tool results   |
| results go back in a ``user`` turn                 | share one turn                                  |
| SAFETY, RECITATION, … end a reply without an error | a terminal error naming the reason (content kept)|
| status                                             |                                                 |
| no end marker: the body simply ends                | a ``finishReason`` must have come, or the stream |
|                                                    | counts as cut                                   |
| every chunk repeats the running ``usageMetadata``  | the last one is used                            |
| ``promptTokenCount`` includes cached tokens,       | subtracted into ``cache_read`` / added to       |
| thoughts are counted apart                         | ``output``                                       |
| the key in a ``?key=`` query ends up in logs       | sent as ``x-goog-api-key``                      |
| Gemini 2.5 thinks by budget, Gemini 3 by level     | ``reasoning`` → ``thinkingBudget`` or           |
|                                                    | ``thinkingLevel`` by model id                   |
| no end-user id, metadata or serial tool calls      | ``user`` / ``metadata`` /                       |
|                                                    | ``parallel_tool_calls=False`` refused            |
"""

from __future__ import annotations

from pluma.llm.protocols.google_generative_ai.adapter import (
    GEMINI_BASE,
    GoogleGenerativeAIAdapter,
    stream_url,
)
from pluma.llm.protocols.google_generative_ai.options import (
    PROTOCOL,
    GoogleGenerativeAIOptions,
    ThinkingLevel,
)
from pluma.llm.protocols.google_generative_ai.request import (
    SKIP_SIGNATURE,
    THINKING_BUDGETS,
    build_contents,
    build_request,
)
from pluma.llm.protocols.google_generative_ai.stream import FINISH_REASONS, GeminiParser

__all__ = [
    "FINISH_REASONS",
    "GEMINI_BASE",
    "PROTOCOL",
    "SKIP_SIGNATURE",
    "THINKING_BUDGETS",
    "GeminiParser",
    "GoogleGenerativeAIAdapter",
    "GoogleGenerativeAIOptions",
    "ThinkingLevel",
    "build_contents",
    "build_request",
    "stream_url",
]
