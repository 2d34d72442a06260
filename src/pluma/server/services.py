"""Services: every long-lived object one Pluma process uses, built in one
place from the settings.

``pluma serve`` opens them at start-up (the app's lifespan) and every CLI
command opens them the same way, so the server and the CLI cannot disagree on
where connections, keys or conversations live, or on which providers exist.
Routes reach them as ``request.app.state.pluma`` or through the
:func:`get_services` dependency; nothing else builds a manager or a store.

| service              | what it is                                                         |
|----------------------|--------------------------------------------------------------------|
| ``secrets``          | the secret store (OS keyring, 0600 file or memory)                 |
| ``llm``              | the ``pluma.llm`` client the built-in chat providers stream through |
| ``connections``      | chat connection profiles, their keys and providers                 |
| ``image_connections``| image backend profiles and providers                               |
| ``conversations``    | the page's history (None when its database cannot be opened)       |
| ``discovery``        | the first-run probe of local backends                              |
| ``problems``         | configuration and plugin problems found while opening, for         |
|                      | ``/api/health``; plugin loaders append theirs here                 |
| ``image_jobs``       | image generations running now, by job id (for cancel)              |
| ``upstream_checks``  | ``/api/health``'s short-lived upstream verdict cache               |
"""

from __future__ import annotations

import logging
import sqlite3
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import httpx
from starlette.requests import HTTPConnection

from pluma import llm
from pluma.server.config import Settings
from pluma.server.images.jobs import GenerationJob
from pluma.server.images.manager import ImageConnectionManager
from pluma.server.profiles.connections import ConnectionManager
from pluma.server.profiles.discovery import Discovery
from pluma.server.profiles.upstream import Verdict
from pluma.server.storage.conversations import FILENAME as CONVERSATIONS_FILE
from pluma.server.storage.conversations import ConversationStore
from pluma.server.storage.secrets import SecretStore

log = logging.getLogger("pluma.server")

UpstreamCheckKey = tuple[str, str, str, str]
"""(profile id, provider id, upstream URL, key fingerprint)."""


@dataclass(eq=False)
class Services:
    """The process's services; build them with :meth:`open`."""

    settings: Settings
    secrets: SecretStore
    llm: llm.Client
    connections: ConnectionManager
    image_connections: ImageConnectionManager
    discovery: Discovery
    conversations: ConversationStore | None
    problems: list[str] = field(default_factory=list)
    image_jobs: dict[str, GenerationJob] = field(default_factory=dict)
    upstream_checks: dict[UpstreamCheckKey, tuple[float, Verdict]] = field(default_factory=dict)
    own_http: httpx.AsyncClient | None = None
    """The server's pooled client (None in the CLI: see :attr:`http`)."""

    @classmethod
    def open(cls, settings: Settings, *, http: httpx.AsyncClient | None = None) -> Services:
        """Build every service from ``settings``.

        ``http`` is the server's pooled client, closed by :meth:`aclose`; the
        CLI passes none and gets the per-event-loop shared client instead
        (connections belong to the loop that opened them). Raises
        ``SecretStoreError`` when a required keyring is unusable
        (``--secrets keyring``); everything else that is wrong becomes a
        problem in :attr:`problems`.
        """
        import pluma.server.images  # noqa: F401  (registers the built-in image providers)
        from pluma.server.http.client import new_http_client
        from pluma.server.images.base import image_provider_kinds, load_entry_points
        from pluma.server.images.manager import image_fallback_profile
        from pluma.server.profiles.connections import fallback_profile, load_providers
        from pluma.server.storage.secrets import open_secret_store

        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        secrets = open_secret_store(settings.secrets, settings.data_dir)
        problems: list[str] = []
        client = _llm_client(problems)
        problems += load_providers()
        problems += load_entry_points()
        connections = ConnectionManager(
            settings.data_dir,
            secrets,
            fallback=fallback_profile(
                settings.base_url, settings.fallback_compat, settings.fallback_model
            ),
            fallback_key=settings.api_key,
            http=http,
            llm_client=client,
        )
        image_kind = settings.image_kind or "a1111"
        image_fallback = image_fallback_profile(settings.image_url, image_kind, settings.image_key)
        if image_fallback is not None and image_kind not in image_provider_kinds():
            problems.append(
                f"--image-kind {image_kind!r} is not a registered image provider "
                f"(registered: {', '.join(image_provider_kinds())})"
            )
        image_connections = ImageConnectionManager(
            settings.data_dir, secrets, fallback=image_fallback, http=http
        )
        problems += image_connections.problems
        return cls(
            settings=settings,
            secrets=secrets,
            llm=client,
            connections=connections,
            image_connections=image_connections,
            # The CLI never probes; its Discovery gets a client that is never opened.
            discovery=Discovery(settings.discovery_targets, http or new_http_client()),
            conversations=_open_conversations(settings, problems),
            problems=problems,
            own_http=http,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The general HTTP client: the server's pooled one, else (CLI) the
        shared client of the running event loop."""
        return self.own_http if self.own_http is not None else _shared()

    async def aclose(self) -> None:
        """Close what :meth:`open` opened (the conversations database, the
        pooled client)."""
        if self.conversations is not None:
            self.conversations.close()
            self.conversations = None
        if self.own_http is not None:
            await self.own_http.aclose()


def _shared() -> httpx.AsyncClient:
    from pluma.server.http.client import shared_http_client

    return shared_http_client()


def _llm_client(problems: list[str]) -> llm.Client:
    """The server's own client: the built-in protocol adapters and those of
    the ``pluma.llm.adapters`` entry points; a broken entry point is a problem
    shown by ``/api/health``, not a warning lost on stderr."""
    from pluma.llm.protocols.anthropic_messages import AnthropicMessagesAdapter
    from pluma.llm.protocols.openai_completions import OpenAICompletionsAdapter

    registry = llm.AdapterRegistry([OpenAICompletionsAdapter(), AnthropicMessagesAdapter()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm.load_entry_point_adapters(registry, entry_points(group="pluma.llm.adapters"))
    problems += [str(w.message) for w in caught]
    return llm.Client(registry)


def _open_conversations(settings: Settings, problems: list[str]) -> ConversationStore | None:
    """The page's history; a database that cannot open is a problem (shown by
    /api/health), not a fatal one: chat still works without history."""
    try:
        return ConversationStore.open(settings.data_dir)
    except (OSError, sqlite3.Error) as exc:
        problem = (
            f"conversation history is off: cannot open {CONVERSATIONS_FILE} in "
            f"{settings.data_dir}: {exc}"
        )
        log.error("%s", problem)
        problems.append(problem)
        return None


def get_services(request: HTTPConnection) -> Services:
    """FastAPI dependency: ``services: Services = Depends(get_services)``."""
    services: Services = request.app.state.pluma
    return services
