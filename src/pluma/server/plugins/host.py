"""The plugin host: every subprocess plugin of one server, from discovery to
shutdown.

The host is the seed's "Host adapter": a plugin's compat (chat) or kind
(image) is registered in the same registry as the built-ins, with a factory
that builds a :class:`PluginChatProvider` / :class:`PluginImageProvider`
instead of an in-process provider. So routes, codecs and the connection
managers call a plugin exactly like a built-in, and a built-in keeps its
in-process path with no gRPC in it.

Lifecycle of one :class:`Plugin`:

``starting`` → ``running`` (handshake, health and ``Describe`` passed) →
``restarting`` when the process dies (again and again with back-off:
0.5 s doubling to 30 s) → ``running``; ``failed`` (with the reason) when it
never came up or failed :data:`MAX_RESTARTS` times in a row; ``stopped``
when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grpc
import httpx

from pluma.llm.errors import ProviderError
from pluma.plugin.serve import SWITCH_INTERVAL
from pluma.plugin.tls import Identity, new_identity
from pluma.plugin.v1 import chat_pb2, common_pb2, image_pb2
from pluma.server.chat.providers.base import provider_kinds, register_provider
from pluma.server.images.base import (
    ImageBackendError,
    image_provider_kinds,
    register_image_provider,
)
from pluma.server.images.profiles import ImageConnectionProfile
from pluma.server.plugins.discovery import Axis, Found, scan
from pluma.server.plugins.process import (
    HANDSHAKE_TIMEOUT,
    PluginStartError,
    Running,
    kill_group,
    launch,
)
from pluma.server.profiles import ConnectionProfile

log = logging.getLogger("pluma.plugins")

State = Literal["starting", "running", "restarting", "failed", "stopped"]

MAX_RESTARTS = 5
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
READY_WAIT = 10.0
"""How long a call waits for a restarting plugin before failing."""
DESCRIBE_TIMEOUT = 10.0

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_plugin_keys: set[tuple[Axis, str]] = set()
"""Keys registered by plugins in this process (so a later host does not
mistake an earlier host's plugin for a built-in)."""


@dataclass(frozen=True, slots=True)
class Description:
    key: str
    display_name: str
    version: str
    upstream: str
    capabilities: tuple[str, ...]


async def describe(running: Running, axis: Axis) -> Description:
    """Ask a running plugin who it is (``Describe``) and check the answer."""
    if axis == "chat":
        method = "/pluma.plugin.v1.ChatProvider/Describe"
        response: Any = chat_pb2.ChatDescription
    else:
        method = "/pluma.plugin.v1.ImageProvider/Describe"
        response = image_pb2.ImageDescription
    call: Any = running.channel.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response.FromString,
    )
    try:
        answer = await call(common_pb2.DescribeRequest(), timeout=DESCRIBE_TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            other = "image" if axis == "chat" else "chat"
            raise PluginStartError(
                f"the plugin does not serve the {axis} service ({method.rsplit('/', 1)[0][1:]}); "
                f"is it a {other} plugin in the wrong folder?"
            ) from None
        raise PluginStartError(f"Describe failed: {exc.code().name}: {exc.details()}") from None
    key = answer.id if axis == "chat" else answer.kind
    if not _KEY.match(key):
        field = "id" if axis == "chat" else "kind"
        raise PluginStartError(
            f"Describe gave {field} {key!r}: it must be 1-64 of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return Description(
        key=key,
        display_name=answer.display_name or key,
        version=answer.version,
        upstream=answer.upstream,
        capabilities=tuple(answer.capabilities),
    )


class Plugin:
    """One plugin executable and the process currently running it."""

    def __init__(self, host: PluginHost, found: Found) -> None:
        self.host = host
        self.axis: Axis = found.axis
        self.path: Path = found.path
        self.name = found.name
        self.state: State = "starting"
        self.reason = ""
        self.key = ""
        self.description: Description | None = None
        self.restarts = 0
        self.running: Running | None = None
        self._ready = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._stopping = False
        if found.problem is not None:
            self.state, self.reason = "failed", f"refused: {found.problem}"

    @property
    def capabilities(self) -> tuple[str, ...]:
        return self.description.capabilities if self.description else ()

    def listing(self) -> dict[str, Any]:
        d = self.description
        return {
            "name": self.name,
            "axis": self.axis,
            "path": str(self.path),
            "key": self.key or None,
            "display_name": d.display_name if d else None,
            "version": d.version if d else None,
            "upstream": d.upstream if d else None,
            "capabilities": list(d.capabilities) if d else [],
            "state": self.state,
            "reason": self.reason or None,
            "restarts": self.restarts,
            "pid": self.running.process.pid if self.running and self.state == "running" else None,
            "mtls": self.running.mtls if self.running else None,
        }

    async def _launch(self) -> tuple[Running, Description]:
        running = await launch(
            self.path,
            name=self.name,
            identity=self.host.identity,
            parent_fd=self.host.parent_fd,
            handshake_timeout=self.host.handshake_timeout,
        )
        try:
            return running, await describe(running, self.axis)
        except BaseException:
            await running.stop()
            raise

    async def start(self) -> None:
        """First start: a failure here is final (shown with its reason)."""
        if self.state == "failed":
            return
        try:
            running, description = await self._launch()
        except PluginStartError as exc:
            self.state, self.reason = "failed", str(exc)
            return
        problem = self.host.claim(self, description.key)
        if problem is not None:
            await running.stop()
            self.state, self.reason = "failed", problem
            return
        self.key, self.description = description.key, description
        self._became_running(running)
        log.info(
            "plugin %s: %s %r v%s running (pid %d%s)",
            self.name,
            self.axis,
            self.key,
            description.version or "?",
            running.process.pid,
            ", mutual TLS" if running.mtls else "",
        )

    def _became_running(self, running: Running) -> None:
        self.running = running
        self.state, self.reason = "running", ""
        self._ready.set()
        self._supervisor = asyncio.ensure_future(self._supervise(running))

    async def _supervise(self, running: Running) -> None:
        code = await running.process.wait()
        if self._stopping:
            return
        self._ready.clear()
        self.state = "restarting"
        self.reason = f"the process ended ({running.exit_description()}){_said(running)}"
        log.error("plugin %s: %s; restarting", self.name, self.reason)
        # Calls still reading the dead plugin end on their own (UNAVAILABLE)
        # within the grace; closing at once would cancel them locally.
        self._closing = asyncio.ensure_future(running.channel.close(grace=5.0))
        delay = BACKOFF_FIRST
        failures = 0
        del code
        while not self._stopping:
            await asyncio.sleep(delay)
            if self._stopping:
                return
            self.restarts += 1
            try:
                fresh, description = await self._launch()
            except PluginStartError as exc:
                failures += 1
                self.reason = f"restart {failures} failed: {exc}"
                log.error("plugin %s: %s", self.name, self.reason)
                if failures >= MAX_RESTARTS:
                    self.state = "failed"
                    self.reason = f"gave up after {failures} failed restarts; last: {exc}"
                    if self.host.report is not None:
                        self.host.report(f"plugin {self.axis}/{self.name}: {self.reason}")
                    self._ready.set()  # wake waiters: they see 'failed'
                    return
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if description.key != self.key:
                await fresh.stop()
                self.state = "failed"
                self.reason = (
                    f"after a restart the plugin calls itself {description.key!r}, "
                    f"not {self.key!r}; restart Pluma to register it anew"
                )
                self._ready.set()
                return
            self.description = description
            log.info("plugin %s: running again (pid %d)", self.name, fresh.process.pid)
            self._became_running(fresh)
            return

    async def channel(self) -> grpc.aio.Channel:
        """The running plugin's channel; waits a little while it restarts."""
        if self.state in ("starting", "restarting"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), READY_WAIT)
        if self.state == "running" and self.running is not None:
            return self.running.channel
        raise ProviderError(
            f"plugin {self.name!r} is {self.state}" + (f": {self.reason}" if self.reason else ""),
            retryable=self.state == "restarting",
        )

    def _describe_rpc(self, exc: grpc.aio.AioRpcError) -> tuple[str, str]:
        code = exc.code()
        details = exc.details() or ""
        if code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.CANCELLED,
            grpc.StatusCode.INTERNAL,
        ):
            self._lost()
            return "unreachable", (
                f"plugin {self.name!r} stopped answering during the call ({details}); "
                "Pluma restarts it"
            )
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return "internal", f"plugin {self.name!r} does not implement this call: {details}"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return "upstream", f"plugin {self.name!r} did not answer in time"
        # The kit sends "<code>: <message>"; any other plugin its own words.
        head, sep, rest = details.partition(": ")
        if sep and head in (
            "auth",
            "unreachable",
            "rate_limit",
            "invalid",
            "not_found",
            "upstream",
            "internal",
        ):
            return head, rest
        return "upstream", details or f"plugin {self.name!r} failed ({code.name})"

    def _lost(self) -> None:
        """A call found the plugin gone: stop handing out its channel now
        (the supervisor may not have reaped the process yet) and make sure
        the process really ends, so the supervisor restarts it."""
        running = self.running
        if self.state != "running" or running is None or self._stopping:
            return
        self._ready.clear()
        self.state, self.reason = "restarting", "a call found the plugin gone"
        kill_group(running.process)

    def lost_error(self) -> ProviderError:
        """The error for a call whose plugin went away under it."""
        self._lost()
        return ProviderError(
            f"plugin {self.name!r} stopped answering during the call; Pluma restarts it",
            code="unreachable",
            retryable=True,
        )

    def rpc_error(self, exc: grpc.aio.AioRpcError) -> ProviderError:
        code, message = self._describe_rpc(exc)
        status = {"auth": 401, "rate_limit": 429, "not_found": 404, "invalid": 400}.get(code)
        return ProviderError(message, status=status, code=code, retryable=code == "unreachable")

    def image_rpc_error(self, exc: grpc.aio.AioRpcError) -> ImageBackendError:
        code, message = self._describe_rpc(exc)
        return ImageBackendError(message, code=code, status=400 if code == "invalid" else 502)

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        if self.running is not None:
            await self.running.stop()
        if self._closing is not None:
            with contextlib.suppress(BaseException):
                await self._closing
        if self.state != "failed":
            self.state = "stopped"
        self._ready.set()


def _said(running: Running) -> str:
    lines = [line for line in running.stderr_tail if line]
    return f"; it wrote: {lines[-1]}" if lines else ""


class PluginHost:
    """All plugins under ``<data_dir>/plugins``, started together, stopped together."""

    def __init__(
        self,
        data_dir: Path,
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.report = report
        """Told each problem as it happens (a refused plugin, one that fails
        to start, one that gives up restarting): the server's health list."""
        self.handshake_timeout = handshake_timeout
        self.plugins: list[Plugin] = []
        self.identity: Identity | None = None
        self.parent_fd: int | None = None
        self._parent_write: int | None = None
        self._taken: dict[Axis, set[str]] = {}

    @property
    def problems(self) -> list[str]:
        """One line per plugin that is refused or failed, for /api/health."""
        return [
            f"plugin {p.axis}/{p.name}: {p.reason}" for p in self.plugins if p.state == "failed"
        ]

    def claim(self, plugin: Plugin, key: str) -> str | None:
        """Register ``plugin`` under ``key``, or say why it may not."""
        taken = self._taken.setdefault(plugin.axis, set())
        if key in taken:
            return f"its {'compat' if plugin.axis == 'chat' else 'kind'} {key!r} is already taken by another plugin"
        registered = provider_kinds() if plugin.axis == "chat" else image_provider_kinds()
        if key in registered and (plugin.axis, key) not in _plugin_keys:
            return f"its {'compat' if plugin.axis == 'chat' else 'kind'} {key!r} is a built-in provider's; pick another"
        taken.add(key)
        _plugin_keys.add((plugin.axis, key))
        if plugin.axis == "chat":

            def chat_factory(profile: ConnectionProfile, http: httpx.AsyncClient) -> Any:
                from pluma.server.plugins.chat import PluginChatProvider

                return PluginChatProvider(plugin, profile)

            register_provider(key, chat_factory)
        else:

            def image_factory(profile: ImageConnectionProfile, http: httpx.AsyncClient) -> Any:
                from pluma.server.plugins.image import PluginImageProvider

                return PluginImageProvider(plugin, profile)

            register_image_provider(key, image_factory)
        return None

    async def start(self) -> None:
        """Discover and start every plugin (concurrently); never raises for a
        plugin's fault."""
        found = scan(self.data_dir)
        if not found:
            return
        self.identity = new_identity()
        # gRPC-Python moves each message between its poller thread and the
        # event loop; at the default 5 ms GIL switch interval that handoff
        # alone can cost milliseconds per hop on a busy server. Only a server
        # that runs plugins has that thread, so only it changes the interval.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        read, write = os.pipe()
        self.parent_fd, self._parent_write = read, write
        self.plugins = [Plugin(self, f) for f in found]
        await asyncio.gather(*(p.start() for p in self.plugins))
        for problem in self.problems:
            log.error("%s", problem)
            if self.report is not None:
                self.report(problem)

    def find(self, axis: Axis, key: str) -> Plugin | None:
        return next((p for p in self.plugins if p.axis == axis and p.key == key), None)

    def listing(self) -> list[dict[str, Any]]:
        return [p.listing() for p in self.plugins]

    def labels(self, axis: Axis) -> dict[str, str]:
        """The display name each registered plugin gave in ``Describe``, by
        compat (chat) or kind (image): what the page shows in its dropdowns."""
        return {
            p.key: p.description.display_name
            for p in self.plugins
            if p.axis == axis and p.key and p.description is not None
        }

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.plugins), return_exceptions=True)
        for fd in (self.parent_fd, self._parent_write):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.parent_fd = self._parent_write = None
