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
| ``gallery``          | generated images with their parameters (files or the database)     |
| ``discovery``        | the first-run probe of local backends                              |
| ``problems``         | configuration and plugin problems found while opening, for         |
|                      | ``/api/health``; plugin loaders append theirs here                 |
| ``upstream_checks``  | ``/api/health``'s short-lived upstream verdict cache               |
| ``plugins``          | the subprocess plugin host (the server's, started by :meth:`start`) |

The secret store opens with :meth:`Services.open` (so an unusable keyring
fails at once); the rest is built on first use, which keeps a CLI command
from importing and opening what it never touches. The server calls
:meth:`Services.open_all` at start-up, so every problem is found and logged
before the first request.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from starlette.requests import HTTPConnection  # a runtime name: FastAPI reads the annotation

from pluma.llm import Client as LLMClient
from pluma.llm import builtin_registry
from pluma.server.config import Settings
from pluma.server.storage.backend import Storage
from pluma.server.storage.secrets import SecretStore

if TYPE_CHECKING:
    from pluma.server.images.manager import ImageConnectionManager
    from pluma.server.plugins import PluginHost
    from pluma.server.profiles.connections import ConnectionManager
    from pluma.server.profiles.discovery import Discovery
    from pluma.server.profiles.upstream import Verdict
    from pluma.server.storage.conversations import ConversationStore
    from pluma.server.storage.gallery import GalleryStore

log = logging.getLogger("pluma.server")

UpstreamCheckKey = tuple[str, str, str, str]
"""(profile id, provider id, upstream URL, key fingerprint)."""


@dataclass(eq=False)
class Services:
    """The process's services; build them with :meth:`open`."""

    settings: Settings
    secrets: SecretStore
    storage: Storage
    """Where everything is kept: the data dir's files, or PostgreSQL."""
    own_http: httpx.AsyncClient | None = None
    """The server's pooled client (None in the CLI: see :attr:`http`)."""
    problems: list[str] = field(default_factory=list)
    upstream_checks: dict[UpstreamCheckKey, tuple[float, Verdict]] = field(default_factory=dict)
    plugins: PluginHost | None = None
    """The subprocess plugin host, while the server runs (:meth:`start`)."""

    @classmethod
    def open(cls, settings: Settings, *, http: httpx.AsyncClient | None = None) -> Services:
        """Open the data directory and the secret store.

        ``http`` is the server's pooled client, closed by :meth:`aclose`; the
        CLI passes none and gets the per-event-loop shared client instead
        (connections belong to the loop that opened them). Raises
        ``SecretStoreError`` when a required keyring is unusable
        (``--secrets keyring``), ``DatabaseError`` when a database store cannot
        be used (unreachable, a missing or wrong ``PLUMA_SECRET_KEY``);
        everything else that is wrong becomes a problem in :attr:`problems`.
        """
        from pluma.server.storage.backend import open_storage

        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        storage = open_storage(settings.data_dir, settings.database_url, settings.secret_key)
        try:
            secrets = storage.open_secrets(settings.secrets)
        except BaseException:
            storage.close()
            raise
        return cls(settings=settings, secrets=secrets, storage=storage, own_http=http)

    def open_all(self) -> None:
        """Build every service now (the server's start-up)."""
        for name in ("llm", "connections", "image_connections", "conversations", "discovery"):
            getattr(self, name)

    @property
    def http(self) -> httpx.AsyncClient:
        """The general HTTP client: the server's pooled one, else (CLI) the
        shared client of the running event loop."""
        if self.own_http is not None:
            return self.own_http
        from pluma.server.http.client import shared_http_client

        return shared_http_client()

    @functools.cached_property
    def llm(self) -> LLMClient:
        """The server's own client: the built-in protocol adapters and those
        of the ``pluma.llm.adapters`` entry points; a broken entry point is a
        problem shown by ``/api/health``, not a warning lost on stderr."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            registry = builtin_registry()
        self.problems += [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        return LLMClient(registry)

    @functools.cached_property
    def connections(self) -> ConnectionManager:
        """Chat connections (with the ``--base-url`` fallback); loads the
        provider plugins first."""
        from pluma.server.profiles.connections import (
            ConnectionManager,
            fallback_profile,
            load_providers,
        )

        self.problems += load_providers()
        settings = self.settings
        return ConnectionManager(
            settings.data_dir,
            self.secrets,
            fallback=fallback_profile(
                settings.base_url, settings.fallback_compat, settings.fallback_model
            ),
            fallback_key=settings.api_key,
            http=self.own_http,
            llm_client=lambda: self.llm,
            store=self.storage.document("connections.json"),
        )

    @functools.cached_property
    def image_connections(self) -> ImageConnectionManager:
        """Image connections (with the ``--image-url`` fallback); loads the
        image provider plugins first."""
        import pluma.server.images  # noqa: F401  (registers the built-in image providers)
        from pluma.server.images.base import image_provider_kinds, load_entry_points
        from pluma.server.images.manager import ImageConnectionManager, image_fallback_profile

        settings = self.settings
        self.problems += load_entry_points()
        kind = settings.image_kind or "a1111"
        fallback = image_fallback_profile(settings.image_url, kind, settings.image_key)
        if fallback is not None and kind not in image_provider_kinds():
            self.problems.append(
                f"--image-kind {kind!r} is not a registered image provider "
                f"(registered: {', '.join(image_provider_kinds())})"
            )
        manager = ImageConnectionManager(
            settings.data_dir,
            self.secrets,
            fallback=fallback,
            http=self.own_http,
            store=self.storage.document("image_connections.json"),
        )
        self.problems += manager.problems
        return manager

    @functools.cached_property
    def conversations(self) -> ConversationStore | None:
        """The page's history; a database that cannot open is a problem (shown
        by /api/health), not a fatal one: chat still works without history."""
        from pluma.server.storage.backend import FileStorage

        if not isinstance(self.storage, FileStorage):
            return self.storage.open_conversations()
        from pluma.server.storage.conversations import (
            FILENAME,
            ConversationStore,
            damage_advice,
        )

        try:
            store = ConversationStore.open(self.settings.data_dir)
        except (OSError, sqlite3.Error) as exc:
            problem = (
                f"conversation history is off: cannot open {FILENAME} in "
                f"{self.settings.data_dir}: {exc}"
            )
            if isinstance(exc, sqlite3.DatabaseError):
                path = self.settings.data_dir / FILENAME
                problem = f"conversation history is off: {damage_advice(path, str(exc))}"
            logging.getLogger("pluma.conversations").error("%s", problem)
            self.problems.append(problem)
            return None
        # A damaged file opens; SQLite's quick_check finds it. /api/health shows
        # the problem from the store, the file is left untouched.
        damage = store.check()
        if damage is not None:
            logging.getLogger("pluma.conversations").error("%s", damage)
        return store

    @functools.cached_property
    def gallery(self) -> GalleryStore:
        """The gallery, where the storage backend keeps it."""
        return self.storage.gallery()

    async def refresh(self) -> None:
        """Bring the registries (and their keys) up to date from a remote store
        without blocking the event loop; the server awaits it as each request
        starts (see :mod:`pluma.server.storage.backend`). Nothing to do for
        files: their registries check the file on each read."""
        if not self.storage.remote:
            return
        for name in ("connections", "image_connections"):
            registry = self.__dict__.get(name)
            if registry is not None:
                await registry.refresh()

    @functools.cached_property
    def discovery(self) -> Discovery:
        """The first-run probe of local backends (the server's)."""
        from pluma.server.profiles.discovery import Discovery

        return Discovery(self.settings.discovery_targets, self.http)

    async def start(self) -> None:
        """Start what runs beside the server: the plugin host (discovers and
        launches ``<datadir>/plugins/*``; its problems join :attr:`problems`)."""
        from pluma.server.plugins import PluginHost

        self.plugins = PluginHost(self.settings.data_dir, report=self.problems.append)
        await self.plugins.start()

    async def aclose(self) -> None:
        """Stop and close what was started and opened (the plugin host, the
        conversations database, the pooled client)."""
        if self.plugins is not None:
            await self.plugins.stop()
            self.plugins = None
        store = self.__dict__.pop("conversations", None)
        if store is not None:
            store.close()
        self.storage.close()
        if self.own_http is not None:
            await self.own_http.aclose()


def get_services(request: HTTPConnection) -> Services:
    """FastAPI dependency: ``services: Services = Depends(get_services)``."""
    services: Services = request.app.state.pluma
    return services


async def fresh_storage(request: HTTPConnection) -> None:
    """FastAPI dependency of every route (set on the app): awaits
    :meth:`Services.refresh` before the route runs. The chat hot routes,
    which skip FastAPI, refresh in :func:`pluma.server.chat.routing.resolve_target`."""
    services: Services | None = getattr(request.app.state, "pluma", None)
    if services is not None:
        await services.refresh()
