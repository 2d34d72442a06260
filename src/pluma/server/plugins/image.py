"""A subprocess plugin behind the ``ImageProvider`` contract, for one image
connection profile: progress arrives as stream messages and is reported
through ``on_progress``; cancelling the awaiting task cancels the RPC, which
the plugin turns into an interrupt on its backend."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc

from pluma.plugin import convert
from pluma.plugin.v1 import common_pb2, image_pb2
from pluma.server.images.base import (
    ImageBackendError,
    ImageRequest,
    ImageResult,
    ProgressCallback,
    report,
)
from pluma.server.images.profiles import ImageConnectionProfile
from pluma.server.plugins.chat import read_stream

if TYPE_CHECKING:
    from pluma.server.plugins.host import Plugin

SERVICE = "/pluma.plugin.v1.ImageProvider/"
UNARY_TIMEOUT = 30.0


class PluginImageProvider:
    def __init__(self, plugin: Plugin, profile: ImageConnectionProfile) -> None:
        self._plugin = plugin
        self._profile = profile

    @property
    def kind(self) -> str:
        return self._plugin.key

    @property
    def upstream(self) -> str:
        return self._profile.base_url

    def _connection(self) -> common_pb2.Connection:
        p = self._profile
        connection = convert.connection_pb(
            id=p.id,
            name=p.name,
            base_url=p.base_url,
            api_key=p.secret,
            headers=p.auth_headers(),
            default_model=p.default_checkpoint,
        )
        connection.auth = p.auth
        connection.username = p.username
        return connection

    async def _unary(self, name: str, request: Any, response: Any) -> Any:
        channel = await self._plugin.channel()
        call: Any = channel.unary_unary(
            SERVICE + name,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )
        try:
            return await call(request, timeout=UNARY_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise self._plugin.image_rpc_error(exc) from None

    async def ping(self) -> None:
        await self._unary(
            "Ping", image_pb2.PingRequest(connection=self._connection()), image_pb2.PingResponse
        )

    async def list_checkpoints(self) -> list[str]:
        answer = await self._unary(
            "ListCheckpoints",
            image_pb2.ListCheckpointsRequest(connection=self._connection()),
            image_pb2.ListCheckpointsResponse,
        )
        return list(answer.checkpoints)

    async def generate(
        self, request: ImageRequest, on_progress: ProgressCallback | None = None
    ) -> ImageResult:
        channel = await self._plugin.channel()
        method: Any = channel.unary_stream(
            SERVICE + "Generate",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=image_pb2.GenerateUpdate.FromString,
        )
        pb = convert.image_request_pb(request, self._connection(), request.resolved_seed())
        call = method(pb)
        try:
            async with asyncio.timeout(self._profile.timeout):
                async for update in read_stream(self._plugin, call, None, None):
                    kind = update.WhichOneof("kind")
                    if kind == "progress":
                        await report(on_progress, convert.progress_from_pb(update.progress))
                    elif kind == "result":
                        return convert.result_from_pb(update.result)
                    elif kind == "error":
                        raise convert.image_error(update.error, self._plugin.name)
        except TimeoutError:
            raise ImageBackendError(
                f"plugin {self._plugin.name!r} did not finish within {self._profile.timeout:g} s",
                code="execution",
            ) from None
        except ImageBackendError:
            raise
        except Exception as exc:
            raise ImageBackendError(str(exc), code="upstream") from None
        raise ImageBackendError(
            f"plugin {self._plugin.name!r} ended the generation without a result", code="upstream"
        )
