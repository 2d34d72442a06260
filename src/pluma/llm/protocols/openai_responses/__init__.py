"""The ``openai-responses`` protocol: OpenAI's Responses API, natively.

* :class:`OpenAIResponsesAdapter` — the adapter registered by default.
* :class:`ResponsesParser` — Responses stream events → neutral events, no HTTP.
* :class:`OpenAIResponsesOptions` — tool choice, reasoning summaries, storage,
  service tier, prompt cache key, ``extra_body``.
* :func:`build_request` — the request body for a context.

Quirks, and what Pluma does about them:

| quirk                                              | handling                                       |
|----------------------------------------------------|------------------------------------------------|
| reasoning is only replayable if encrypted          | ``store: false`` and                           |
| (``store: false``, zero data retention)            | ``include: ["reasoning.encrypted_content"]``   |
|                                                    | for reasoning models; the encrypted content    |
|                                                    | rides on ``ThinkingContent.signature`` and is  |
|                                                    | sent back (without its item id) next turn      |
| a reasoning item may have no readable summary      | an empty thinking block marked ``redacted``,   |
|                                                    | its signature still replayed                   |
| tool calls have two ids (``id`` ``fc_…`` and       | ``ToolCall.id`` is ``call_id``, which a        |
| ``call_id`` ``call_…``)                            | ``function_call_output`` answers               |
| function tools are ``strict`` by default           | ``strict: false`` (any JSON Schema works)      |
| summaries come in parts                            | joined with a blank line in one thinking block |
| ``*.done`` events repeat the full value            | the final value wins over the deltas           |
| ``incomplete`` (``max_output_tokens``)             | ``length``; ``content_filter`` → error         |
| ``response.failed`` / ``error`` after a 200        | one terminal error, upstream message and code, |
|                                                    | partial content kept                           |
| no ``stop``, ``seed``, ``top_k``, penalties        | refused before sending (``ConfigurationError``)|
| ``reasoning: off``                                 | no ``reasoning`` member: the model's default   |
|                                                    | effort applies (not every model can stop       |
|                                                    | reasoning)                                     |
| built-in tool items (web search, …) in the output  | left out with a diagnostic                     |
| a server that ignores ``stream: true``             | the JSON Response is read as its final event   |
"""

from __future__ import annotations

from pluma.llm.protocols.openai_responses.adapter import (
    OPENAI_BASE,
    OpenAIResponsesAdapter,
    responses_url,
)
from pluma.llm.protocols.openai_responses.options import (
    PROTOCOL,
    OpenAIResponsesOptions,
    ReasoningSummary,
)
from pluma.llm.protocols.openai_responses.request import build_input, build_request
from pluma.llm.protocols.openai_responses.stream import (
    INCOMPLETE_REASONS,
    ResponsesParser,
    response_as_events,
)

__all__ = [
    "INCOMPLETE_REASONS",
    "OPENAI_BASE",
    "PROTOCOL",
    "OpenAIResponsesAdapter",
    "OpenAIResponsesOptions",
    "ReasoningSummary",
    "ResponsesParser",
    "build_input",
    "build_request",
    "response_as_events",
    "responses_url",
]
