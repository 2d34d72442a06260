"""Chat: the provider contract and built-ins (:mod:`.providers`), routing of
``<profile>/<model>`` names to a provider (:mod:`.routing`), and the edge
codecs between client wire formats and the neutral vocabulary
(:mod:`.codecs`).

The public entry point for code outside the HTTP routes (the CLI, an
embedding program): build a :class:`ChatRequest` and call :func:`open_chat`
with the services' connection manager; it returns the neutral event stream.
"""

from pluma.server.chat.providers.base import ChatRequest
from pluma.server.chat.routing import CatalogEntry, catalog, open_chat

__all__ = ["CatalogEntry", "ChatRequest", "catalog", "open_chat"]
