"""The Python plugin kit's server: one call turns a provider into a plugin
executable that any Pluma host (or go-plugin client) can run.

What :func:`serve_chat` / :func:`serve_image` do, in go-plugin's order:

1. refuse to run without the magic cookie (a person ran the file by hand)
   or when the host speaks no protocol version this kit knows;
2. listen on a unix socket in a private directory (``PLUMA_PLUGIN_NETWORK=tcp``
   picks 127.0.0.1 instead), with mutual TLS when the host sent
   ``PLUGIN_CLIENT_CERT``;
3. serve the axis service, ``grpc.health.v1`` ("plugin" SERVING) and
   ``plugin.GRPCController/Shutdown``;
4. print the handshake line, then run until Shutdown, SIGTERM, or the host's
   death (end-of-file on the pipe named by ``PLUMA_PLUGIN_PARENT_FD``).

The provider is built per connection by the factory the plugin passes (the
same ``(profile, http_client)`` factories built-in providers register), so a
plugin is the seed's ``Provider`` class plus one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import httpx

from pluma.plugin import convert
from pluma.plugin.handshake import (
    APP_PROTOCOL_VERSION,
    HEALTH_SERVICE,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    PARENT_FD_ENV,
    NetworkType,
    format_handshake,
)
from pluma.plugin.v1 import chat_pb2, common_pb2, go_plugin_pb2, image_pb2
from pluma.server.chat.providers.base import Provider, ProviderFactory
from pluma.server.images.base import ImageProvider, ImageProviderFactory, ImageResult, Progress
from pluma.server.images.profiles import ImageConnectionProfile
from pluma.server.profiles import ConnectionProfile

P = TypeVar("P")


@dataclass(slots=True)
class _Providers:
    """One provider per distinct connection (id, URL, key, headers), built on
    first use: a provider may hold per-connection state (a client, a cache)."""

    build: Callable[[common_pb2.Connection], Any]
    cache: dict[str, Any] = field(default_factory=dict)

    def get(self, connection: common_pb2.Connection) -> Any:
        key = hashlib.sha256(connection.SerializeToString(deterministic=True)).hexdigest()
        provider = self.cache.get(key)
        if provider is None:
            provider = self.cache[key] = self.build(connection)
        return provider


def _refuse(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(1)


def _check_environment() -> None:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        _refuse(
            "This executable is a Pluma plugin: it is meant to be started by Pluma, not run "
            "by hand. Put it in <datadir>/plugins/chat/ (or image/) and restart `pluma serve`, "
            "or test it with `pluma plugins check PATH`."
        )
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "")
    if versions and str(APP_PROTOCOL_VERSION) not in versions.split(","):
        _refuse(
            f"this plugin implements Pluma plugin protocol v{APP_PROTOCOL_VERSION}; the host "
            f"speaks {versions}: upgrade Pluma or the plugin"
        )


def _unary(
    fn: Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]],
    request_type: Any,
) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        fn,
        request_deserializer=request_type.FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )


def _stream(
    fn: Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]],
    request_type: Any,
) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_stream_rpc_method_handler(
        fn,
        request_deserializer=request_type.FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    error = convert.error_pb(exc)
    status = (
        grpc.StatusCode.INVALID_ARGUMENT if error.code == "invalid" else grpc.StatusCode.UNKNOWN
    )
    await context.abort(status, f"{error.code}: {error.message}")


# -- chat -------------------------------------------------------------------------

BATCH_BYTES = 32 * 1024
"""At most this much text per ChatLine message when lines queue up."""

_END = object()


async def batched(lines: AsyncIterator[str]) -> AsyncIterator[str | BaseException]:
    """The provider's lines, the first alone, the rest joined into one message
    with whatever else is already waiting.

    The first line is read straight from the provider, without a task or a
    queue in between, and leaves as its own message: the time to first byte
    is what a person waits on, and a first message holding the whole reply
    (a fast provider fills the queue before the first send) cost 0.3-0.4 ms
    of joining, encrypting and parsing before the first token showed.

    After it, each gRPC message costs far more than a line, so lines that are
    waiting travel together; a lone line still leaves at once (no timer, no
    added latency). The rest is read by a task started before the first
    message is sent, so it runs ahead while that send is in flight. Leaving
    early (the host cancelled) cancels it and closes the provider's
    generator. An exception the provider raised comes last, after the lines
    before it.
    """
    try:
        first = await anext(aiter(lines))
    except StopAsyncIteration:
        return
    except Exception as exc:
        yield exc
        return
    except BaseException:
        await _close(lines)
        raise
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=4096)

    async def produce() -> None:
        try:
            async for item in lines:
                await queue.put(item)
        except Exception as exc:
            await queue.put(exc)
        finally:
            await queue.put(_END)
            await _close(lines)

    producer = asyncio.ensure_future(produce())
    try:
        yield first
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                yield item
                return
            parts = [str(item)]
            size = len(parts[0])
            pending: object = None
            while size < BATCH_BYTES and not queue.empty():
                more = queue.get_nowait()
                if not isinstance(more, str):
                    pending = more
                    break
                parts.append(more)
                size += len(more)
            yield "\n".join(parts)
            if pending is _END:
                return
            if isinstance(pending, BaseException):
                yield pending
                return
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
        # A task cancelled before its first step never runs its finally.
        await _close(lines)


async def _close(lines: AsyncIterator[str]) -> None:
    aclose = getattr(lines, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def chat_handlers(
    factory: ProviderFactory,
    description: chat_pb2.ChatDescription,
    http: httpx.AsyncClient,
) -> grpc.GenericRpcHandler:
    """The ``pluma.plugin.v1.ChatProvider`` service over ``factory``."""

    def build(connection: common_pb2.Connection) -> Provider:
        profile = ConnectionProfile(
            id=connection.id,
            name=connection.name,
            compat=description.id,
            base_url=connection.base_url,
            default_model=connection.default_model,
            headers=dict(connection.headers),
            api_key=connection.api_key or None,
        )
        return factory(profile, http)

    providers = _Providers(build)

    async def describe(_: Any, context: Any) -> chat_pb2.ChatDescription:
        return description

    async def list_models(request: chat_pb2.ListModelsRequest, context: Any) -> Any:
        try:
            models = await providers.get(request.connection).list_models()
        except Exception as exc:
            await _abort(context, exc)
        return convert.models_pb(models)

    async def stream_chat(request: chat_pb2.ChatRequest, context: Any) -> AsyncIterator[Any]:
        try:
            provider = providers.get(request.connection)
            lines = provider.stream_chat(convert.chat_request_from_pb(request))
        except Exception as exc:
            yield chat_pb2.ChatLine(error=convert.error_pb(exc))
            return
        async for batch in batched(lines):
            if isinstance(batch, BaseException):
                yield chat_pb2.ChatLine(error=convert.error_pb(batch))
                return
            yield chat_pb2.ChatLine(line=batch)

    async def stream_events(request: chat_pb2.ChatRequest, context: Any) -> AsyncIterator[Any]:
        provider = providers.get(request.connection)
        stream_events = getattr(provider, "stream_events", None)
        if stream_events is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this plugin streams lines only")
            return
        events = stream_events(convert.chat_request_from_pb(request))
        try:
            async for event in events:
                if event.type == "done" and event.message is not None:
                    yield convert.usage_pb(event.message.usage)
                pb = convert.event_pb(event)
                if pb is not None:
                    yield pb
        except Exception as exc:
            yield chat_pb2.ChatEvent(error=convert.error_pb(exc))
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()

    return grpc.method_handlers_generic_handler(
        "pluma.plugin.v1.ChatProvider",
        {
            "Describe": _unary(describe, common_pb2.DescribeRequest),
            "ListModels": _unary(list_models, chat_pb2.ListModelsRequest),
            "StreamChat": _stream(stream_chat, chat_pb2.ChatRequest),
            "StreamEvents": _stream(stream_events, chat_pb2.ChatRequest),
        },
    )


# -- image ------------------------------------------------------------------------


def image_handlers(
    factory: ImageProviderFactory,
    description: image_pb2.ImageDescription,
    http: httpx.AsyncClient,
) -> grpc.GenericRpcHandler:
    """The ``pluma.plugin.v1.ImageProvider`` service over ``factory``."""

    def build(connection: common_pb2.Connection) -> ImageProvider:
        auth = connection.auth if connection.auth in ("basic", "bearer") else "none"
        profile = ImageConnectionProfile(
            id=connection.id,
            name=connection.name,
            kind=description.kind,
            base_url=connection.base_url,
            auth=auth,  # type: ignore[arg-type]
            username=connection.username,
            default_checkpoint=connection.default_model,
            secret=connection.api_key or None,
        )
        return factory(profile, http)

    providers = _Providers(build)

    async def describe(_: Any, context: Any) -> image_pb2.ImageDescription:
        return description

    async def ping(request: image_pb2.PingRequest, context: Any) -> image_pb2.PingResponse:
        try:
            await providers.get(request.connection).ping()
        except Exception as exc:
            await _abort(context, exc)
        return image_pb2.PingResponse()

    async def checkpoints(request: image_pb2.ListCheckpointsRequest, context: Any) -> Any:
        try:
            names = await providers.get(request.connection).list_checkpoints()
        except Exception as exc:
            await _abort(context, exc)
        return image_pb2.ListCheckpointsResponse(checkpoints=names)

    async def generate(request: image_pb2.GenerateRequest, context: Any) -> AsyncIterator[Any]:
        updates: asyncio.Queue[Progress] = asyncio.Queue()
        try:
            provider = providers.get(request.connection)
            job: asyncio.Task[ImageResult] = asyncio.ensure_future(
                provider.generate(convert.image_request_from_pb(request), updates.put_nowait)
            )
        except Exception as exc:
            yield image_pb2.GenerateUpdate(error=convert.error_pb(exc))
            return
        try:
            while not job.done():
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield convert.progress_pb(getter.result())
                else:
                    getter.cancel()
            while not updates.empty():
                yield convert.progress_pb(updates.get_nowait())
            try:
                result = job.result()
            except Exception as exc:
                yield image_pb2.GenerateUpdate(error=convert.error_pb(exc))
                return
            yield convert.result_pb(result)
        finally:
            if not job.done():
                job.cancel()  # the host cancelled: interrupt the backend job
                with contextlib.suppress(BaseException):
                    await job

    return grpc.method_handlers_generic_handler(
        "pluma.plugin.v1.ImageProvider",
        {
            "Describe": _unary(describe, common_pb2.DescribeRequest),
            "Ping": _unary(ping, image_pb2.PingRequest),
            "ListCheckpoints": _unary(checkpoints, image_pb2.ListCheckpointsRequest),
            "Generate": _stream(generate, image_pb2.GenerateRequest),
        },
    )


# -- the process ---------------------------------------------------------------------


SWITCH_INTERVAL = 0.0005
"""gRPC-Python hands every message between its poller thread and the event
loop; with the default 5 ms GIL switch interval a busy loop can hold that
handoff for milliseconds. A plugin is a small I/O process, so it trades a
little throughput for a hop measured in fractions of a millisecond."""


async def _serve(make_handler: Callable[[httpx.AsyncClient], grpc.GenericRpcHandler]) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_health.v1.health import aio as health_aio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    http = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0))
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((make_handler(http),))
    health = health_aio.HealthServicer()
    await health.set(HEALTH_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)

    async def shutdown(_: Any, context: Any) -> go_plugin_pb2.Empty:
        loop.call_soon(stop.set)
        return go_plugin_pb2.Empty()

    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "plugin.GRPCController", {"Shutdown": _unary(shutdown, go_plugin_pb2.Empty)}
            ),
        )
    )

    network: NetworkType = "tcp" if os.environ.get("PLUMA_PLUGIN_NETWORK") == "tcp" else "unix"
    socket_dir = tempfile.mkdtemp(prefix="pluma-plugin-")  # mode 0700: ours alone
    address = os.path.join(socket_dir, "plugin.sock")
    target = f"unix:{address}" if network == "unix" else "127.0.0.1:0"
    cert_der = None
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    if client_cert:
        from pluma.plugin.tls import new_identity

        identity = new_identity()
        credentials = grpc.ssl_server_credentials(
            [(identity.key_pem, identity.cert_pem)],
            root_certificates=client_cert.encode(),
            require_client_auth=True,
        )
        port = server.add_secure_port(target, credentials)
        cert_der = identity.cert_der
    else:
        port = server.add_insecure_port(target)
    if network == "tcp":
        address = f"127.0.0.1:{port}"
    await server.start()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    # Ctrl-C in the host's terminal reaches the whole process group; the host
    # stops its plugins itself, in order (go-plugin ignores it the same way).
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    parent_fd = os.environ.get(PARENT_FD_ENV)
    if parent_fd and parent_fd.isdigit():
        fd = int(parent_fd)

        def parent_gone() -> None:
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                stop.set()

        with contextlib.suppress(OSError):
            loop.add_reader(fd, parent_gone)

    sys.stdout.write(format_handshake(network, address, cert_der) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop(grace=1.0)
        await http.aclose()
        shutil.rmtree(socket_dir, ignore_errors=True)


def serve_chat(
    factory: ProviderFactory,
    *,
    id: str,
    display_name: str = "",
    version: str = "0.0.0",
    upstream: str = "",
    default_base_url: str = "",
) -> None:
    """Serve a chat provider as a plugin until the host stops it.

    ``factory`` builds the provider for a connection profile (a provider
    class taking ``(profile, http_client)`` is one); ``id`` is the compat
    connection profiles name. Providers with ``stream_events`` are offered
    with the ``events`` capability so nothing is lost in translation.
    """
    _check_environment()
    description = chat_pb2.ChatDescription(
        id=id,
        upstream=upstream,
        display_name=display_name or id,
        version=version,
        default_base_url=default_base_url,
        capabilities=["list_models", *(["events"] if _has_events(factory) else [])],
    )
    asyncio.run(_serve(lambda http: chat_handlers(factory, description, http)))


def serve_image(
    factory: ImageProviderFactory,
    *,
    kind: str,
    display_name: str = "",
    version: str = "0.0.0",
    upstream: str = "",
    default_base_url: str = "",
) -> None:
    """Serve an image provider as a plugin until the host stops it; ``kind``
    is what image connection profiles name."""
    _check_environment()
    description = image_pb2.ImageDescription(
        kind=kind,
        upstream=upstream,
        display_name=display_name or kind,
        version=version,
        default_base_url=default_base_url,
    )
    asyncio.run(_serve(lambda http: image_handlers(factory, description, http)))


def _has_events(factory: ProviderFactory) -> bool:
    return isinstance(factory, type) and hasattr(factory, "stream_events")
