"""The ``ollama`` protocol: Ollama's native ``/api/chat`` NDJSON stream.

* :class:`OllamaAdapter` — the adapter registered by default.
* :class:`OllamaParser` — NDJSON lines → neutral events, no HTTP.
* :class:`OllamaOptions` — ``keep_alive``, model ``options``, ``think``,
  ``extra_body``.
* :func:`build_request` — the request body for a context.

Quirks, and what Pluma does about them:

| quirk                                              | handling                                        |
|----------------------------------------------------|-------------------------------------------------|
| thinking streams in ``message.thinking``, apart    | its own thinking block                          |
| from ``content``                                   |                                                 |
| tool calls come whole, arguments as an object,     | one start/delta/end each; ids synthesised       |
| usually without an id                              | (``ollama_call_…``); results name the tool      |
|                                                    | (``tool_name``), which is how Ollama links them |
| sampling parameters live under ``options``         | the neutral controls go there                   |
|                                                    | (``max_tokens`` → ``num_predict``)              |
| ``think`` is a switch, a level only for gpt-oss    | ``reasoning`` mapped by model id                |
| errors after a 200 are a ``{"error": "…"}`` line   | one terminal error, partial content kept        |
| no cache counts in usage                           | ``cache_read`` stays 0                          |
| ``done_reason`` ``load`` / ``unload`` (an empty    | an error naming the reason                      |
| request only loaded the model)                     |                                                 |
| no key on the local server; a key for Ollama's     | none needed on loopback; ``OLLAMA_API_KEY`` or  |
| cloud                                              | ``api_key`` sent as a bearer token              |
| no end-user id, metadata or serial tool calls      | ``user`` / ``metadata`` /                       |
|                                                    | ``parallel_tool_calls`` refused                 |
"""

from __future__ import annotations

from pluma.llm.protocols.ollama.adapter import OLLAMA_BASE, OllamaAdapter, chat_url
from pluma.llm.protocols.ollama.options import PROTOCOL, OllamaOptions, Think
from pluma.llm.protocols.ollama.request import build_messages, build_request
from pluma.llm.protocols.ollama.stream import DONE_REASONS, OllamaParser

__all__ = [
    "DONE_REASONS",
    "OLLAMA_BASE",
    "PROTOCOL",
    "OllamaAdapter",
    "OllamaOptions",
    "OllamaParser",
    "Think",
    "build_messages",
    "build_request",
    "chat_url",
]
