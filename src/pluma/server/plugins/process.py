"""One plugin process: start it, read its handshake, dial it, stop it.

The host side of HashiCorp go-plugin's gRPC protocol (see
:mod:`pluma.plugin.handshake` for the wire), plus what keeps a plugin from
outliving Pluma: the child asks the kernel for SIGKILL when Pluma dies
(Linux ``PR_SET_PDEATHSIG``, set between fork and exec) and inherits the read
end of a pipe only Pluma writes to, which the Python kit watches for EOF.
The child also runs in its own session, so Ctrl-C in Pluma's terminal does
not kill it behind Pluma's back: Pluma stops its plugins itself, in order
(controller ``Shutdown``, then SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from pluma.plugin.handshake import (
    APP_PROTOCOL_VERSION,
    HEALTH_SERVICE,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    PARENT_FD_ENV,
    SHUTDOWN_METHOD,
    Handshake,
    HandshakeError,
    parse_handshake,
)
from pluma.plugin.tls import SERVER_NAME, Identity, der_to_pem
from pluma.plugin.v1 import go_plugin_pb2

log = logging.getLogger("pluma.plugins")

HANDSHAKE_TIMEOUT = 10.0
STOP_GRACE = 2.0
MAX_MESSAGE = 64 * 1024 * 1024
"""Image results cross as one message; gRPC's default 4 MiB is too small."""

_PR_SET_PDEATHSIG = 1


def _death_signal_setter() -> Callable[[], None] | None:
    """The function the child runs between fork and exec (Linux only). The
    libc function is looked up here, before forking, so the child runs no
    import machinery."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_death_signal


def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the plugin's whole session (it was started as a session
    leader, so its process group id is its pid): children a plugin started,
    e.g. a shell script's, must not outlive it or hold its pipes open."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class PluginStartError(Exception):
    """The plugin did not come up; the message says what went wrong and
    quotes the end of what it wrote on stderr."""


@dataclass(slots=True)
class Running:
    """A plugin process that completed the handshake and answers gRPC."""

    name: str
    process: asyncio.subprocess.Process
    handshake: Handshake
    channel: grpc.aio.Channel
    mtls: bool
    stderr_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=20)
    )
    forwarders: list[asyncio.Task[None]] = field(default_factory=list)
    bridge: Any = None
    """A :class:`TLSBridge` when gRPC's TLS cannot verify the plugin itself."""

    def exit_description(self) -> str:
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    async def stop(self) -> None:
        """Controller Shutdown, then SIGTERM, then SIGKILL; closes the channel."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.channel.unary_unary(
                    SHUTDOWN_METHOD,
                    request_serializer=go_plugin_pb2.Empty.SerializeToString,
                    response_deserializer=go_plugin_pb2.Empty.FromString,
                )(go_plugin_pb2.Empty(), timeout=STOP_GRACE)
            for send in (self.process.terminate, lambda: kill_group(self.process)):
                try:
                    await asyncio.wait_for(self.process.wait(), STOP_GRACE)
                    break
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        send()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
        kill_group(self.process)  # whatever the plugin left behind in its session
        await self.channel.close(grace=None)
        if self.bridge is not None:
            await self.bridge.close()
        for task in self.forwarders:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 1.0)


def _log_line(name: str, stream: str, raw: bytes) -> None:
    """Forward one line the plugin wrote. go-plugin's Go side writes hclog
    JSON (``@level``, ``@message``); that is shown as its message at its
    level, anything else as-is."""
    text = raw.decode("utf-8", "replace").rstrip()
    if not text:
        return
    level = logging.INFO if stream == "stdout" else logging.WARNING
    if text.startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            entry = json.loads(text)
            message = str(entry.pop("@message", ""))
            hclevel = str(entry.pop("@level", "info")).lower()
            for key in ("@timestamp", "@module", "@caller"):
                entry.pop(key, None)
            extra = " ".join(f"{k}={v}" for k, v in entry.items())
            text = f"{message} {extra}".strip()
            level = {"trace": logging.DEBUG, "debug": logging.DEBUG, "warn": logging.WARNING}.get(
                hclevel, logging.ERROR if hclevel == "error" else logging.INFO
            )
    log.log(level, "[plugin %s] %s", name, text)


async def _forward(
    name: str, stream: str, reader: asyncio.StreamReader, tail: collections.deque[str] | None
) -> None:
    while True:
        try:
            raw = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            continue  # a line over the limit: skip it rather than stop forwarding
        if not raw:
            return
        if tail is not None:
            tail.append(raw.decode("utf-8", "replace").rstrip())
        _log_line(name, stream, raw)


def _stderr_quote(tail: collections.deque[str]) -> str:
    lines = [line for line in tail if line]
    return f"; it wrote: {' | '.join(lines[-5:])}" if lines else ""


async def launch(
    path: Path,
    *,
    name: str,
    identity: Identity | None,
    parent_fd: int | None,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    extra_env: dict[str, str] | None = None,
) -> Running:
    """Start ``path`` as a go-plugin plugin and return it dialled and healthy,
    or raise :class:`PluginStartError` saying exactly what went wrong."""
    env = dict(os.environ)
    env.update(extra_env or {})
    env[MAGIC_COOKIE_KEY] = MAGIC_COOKIE_VALUE
    env["PLUGIN_PROTOCOL_VERSIONS"] = str(APP_PROTOCOL_VERSION)
    env.setdefault("PLUGIN_MIN_PORT", "10000")
    env.setdefault("PLUGIN_MAX_PORT", "25000")
    if identity is not None:
        env["PLUGIN_CLIENT_CERT"] = identity.cert_pem.decode()
    pass_fds: tuple[int, ...] = ()
    if parent_fd is not None:
        env[PARENT_FD_ENV] = str(parent_fd)
        pass_fds = (parent_fd,)
    try:
        process = await asyncio.create_subprocess_exec(
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            pass_fds=pass_fds,
            start_new_session=True,
            preexec_fn=_death_signal_setter(),
        )
    except OSError as exc:
        raise PluginStartError(f"could not start {path}: {exc.strerror or exc}") from None
    assert process.stdout is not None and process.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=20)
    stderr_task = asyncio.ensure_future(_forward(name, "stderr", process.stderr, tail))

    async def fail(message: str) -> PluginStartError:
        kill_group(process)
        await process.wait()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(stderr_task, 1.0)
        return PluginStartError(message + _stderr_quote(tail))

    try:
        line = await asyncio.wait_for(process.stdout.readline(), handshake_timeout)
    except TimeoutError:
        raise await fail(
            f"no handshake within {handshake_timeout:g} s: a plugin must print its "
            "go-plugin handshake line on stdout as soon as it listens"
        ) from None
    if not line:
        await process.wait()
        raise await fail(f"the plugin exited ({process.returncode}) before its handshake")
    try:
        handshake = parse_handshake(line.decode("utf-8", "replace"))
    except HandshakeError as exc:
        raise await fail(f"bad handshake: {exc}") from None

    options: list[tuple[str, str | int]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.enable_retries", 0),
    ]
    mtls = identity is not None and handshake.server_cert_der is not None
    bridge: Any = None
    if mtls:
        assert identity is not None and handshake.server_cert_der is not None
        try:
            root = der_to_pem(handshake.server_cert_der)
        except ValueError as exc:
            raise await fail(
                f"bad handshake: the server certificate does not parse: {exc}"
            ) from None
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root,
            private_key=identity.key_pem,
            certificate_chain=identity.cert_pem,
        )
        options.append(("grpc.ssl_target_name_override", SERVER_NAME))
        from pluma.server.plugins.tls_bridge import TLSBridge, needs_bridge

        if needs_bridge(handshake.server_cert_der):
            bridge = TLSBridge(handshake, identity)
            await bridge.start()
            channel = grpc.aio.insecure_channel(bridge.target, options=options)
        else:
            channel = grpc.aio.secure_channel(handshake.target, credentials, options=options)
    else:
        channel = grpc.aio.insecure_channel(handshake.target, options=options)
    running = Running(name, process, handshake, channel, mtls, tail)
    running.bridge = bridge
    running.forwarders = [
        stderr_task,
        asyncio.ensure_future(_forward(name, "stdout", process.stdout, None)),
    ]
    try:
        await asyncio.wait_for(check_health(channel), handshake_timeout)
    except Exception as exc:
        await running.stop()
        detail = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise PluginStartError(
            f"the plugin printed a handshake but its health check failed: {detail}"
            + _stderr_quote(tail)
        ) from None
    if identity is not None and not mtls:
        log.warning(
            "[plugin %s] does not support automatic mutual TLS: its socket is protected by "
            "file permissions only",
            name,
        )
    return running


async def check_health(channel: grpc.aio.Channel) -> None:
    """``grpc.health.v1.Health/Check`` for "plugin" must answer SERVING."""
    from grpc_health.v1 import health_pb2

    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    try:
        answer = await check(
            health_pb2.HealthCheckRequest(service=HEALTH_SERVICE), wait_for_ready=True
        )
    except grpc.aio.AioRpcError as exc:
        raise RuntimeError(f"{exc.code().name}: {exc.details()}") from None
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise RuntimeError(
            f"service 'plugin' is {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}"
        )
