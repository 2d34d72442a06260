"""The plugin hop's gRPC transport switch (``pluma.plugin.grpc_tuning``):
importing Pluma's plugin packages before grpc puts grpc's client channels
and listeners on the poller measured faster for the hop, the user's own
``GRPC_EXPERIMENTS`` wins, and grpc knows the names (an unknown one would
log an error at every start, which is what a grpcio upgrade that drops them
looks like here)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.xdist_group("plugins")

# One call over loopback; grpc's tcp trace names the transport's source files:
# tcp_posix.cc for the poller's sockets, the EventEngine's own files (its
# posix_endpoint.cc, or another under event_engine/posix_engine/) otherwise.
POLLER = "tcp_posix.cc"
EVENT_ENGINE_ENDPOINT = "posix_endpoint.cc"
EVENT_ENGINE_FILES = ("posix_endpoint.cc", "event_engine/posix_engine/")

CALL = textwrap.dedent(
    """
    import asyncio, sys
    __import__(sys.argv[1])
    import grpc

    async def main():
        server = grpc.aio.server()
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                await channel.unary_unary("/none.None/Call")(b"", timeout=5)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNIMPLEMENTED, exc
        await server.stop(None)

    asyncio.run(main())
    """
)


def transport_log(first_import: str, experiments: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    env.update(GRPC_VERBOSITY="debug", GRPC_TRACE="tcp")
    if experiments is not None:
        env["GRPC_EXPERIMENTS"] = experiments
    done = subprocess.run(
        [sys.executable, "-c", CALL, first_import],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.mark.parametrize("first_import", ["pluma.plugin", "pluma.server.plugins"])
def test_plugin_packages_put_grpc_on_the_poller(first_import: str) -> None:
    log = transport_log(first_import)
    assert "Unknown experiment" not in log
    assert POLLER in log
    assert EVENT_ENGINE_ENDPOINT not in log


def test_grpc_alone_keeps_its_default() -> None:
    """The control: without Pluma imported first grpc uses its EventEngine,
    so the assertions above can tell the two apart."""
    log = transport_log("json")
    assert any(name in log for name in EVENT_ENGINE_FILES), log[-2000:]
    assert POLLER not in log


def test_the_users_setting_wins() -> None:
    log = transport_log("pluma.plugin", experiments="")
    assert any(name in log for name in EVENT_ENGINE_FILES), log[-2000:]
    assert POLLER not in log
