"""The floor under the plugin hop: how long the first message of a bare
gRPC-Python server stream takes between two processes on this machine, with
no Pluma code on either side.

| path              | what                                                              |
|-------------------|-------------------------------------------------------------------|
| asyncio ping-pong | one 2-byte write and a 100-byte answer over a unix socket, plain  |
|                   | asyncio both sides: what two processes taking turns costs         |
| grpc unix         | ``grpc.aio`` client calls a ``grpc.aio`` server's unary-stream    |
|                   | method that yields a 100-byte message at once; time from the call |
|                   | to the first message, as the plugin host reads it                 |
| grpc unix + mTLS  | the same with the mutual TLS the plugin host uses                 |

The plugin hop (``bench_plugins.py``, which also runs the mTLS row in its
own alternation) is this floor plus Pluma's own work on both sides (building
and reading the request and the first line), so its added time to first
byte cannot be lower than the gRPC rows here.

Run: ``.venv/bin/python bench/probe_grpc_floor.py`` (``--rounds N``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from common import BENCH_DIR, machine, percentile, table

sys.path.insert(0, str(BENCH_DIR.parent / "src"))

# First, as in Pluma's own processes: the floor uses the gRPC transport the
# plugin hop runs on (pluma.plugin.grpc_tuning).
import pluma.plugin.grpc_tuning  # noqa: F401

# isort: split
import grpc

from pluma.plugin.serve import SWITCH_INTERVAL
from pluma.plugin.tls import SERVER_NAME, new_identity

METHOD = "/probe.Probe/Stream"
WARM = 50


def _identity_files(folder: Path) -> None:
    identity = new_identity()
    (folder / "cert.pem").write_bytes(identity.cert_pem)
    (folder / "key.pem").write_bytes(identity.key_pem)


async def _grpc_server(socket_path: str, tls: bool) -> None:
    async def stream(request: bytes, context: object) -> object:
        yield b"x" * 100
        yield b"y" * 100

    handler = grpc.method_handlers_generic_handler(
        "probe.Probe", {"Stream": grpc.unary_stream_rpc_method_handler(stream)}
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    target = f"unix:{socket_path}"
    if tls:
        folder = Path(socket_path).parent
        cert, key = (folder / "cert.pem").read_bytes(), (folder / "key.pem").read_bytes()
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=cert, require_client_auth=True
        )
        server.add_secure_port(target, credentials)
    else:
        server.add_insecure_port(target)
    await server.start()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(None)


async def _raw_server(socket_path: str) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(100):
            writer.write(b"x" * 100)

    server = await asyncio.start_unix_server(answer, socket_path)
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


def _serve(kind: str, socket_path: str) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
    if kind == "raw":
        asyncio.run(_raw_server(socket_path))
    else:
        asyncio.run(_grpc_server(socket_path, tls=kind == "grpc-tls"))


def _channel(socket_path: str, tls: bool) -> grpc.aio.Channel:
    target = f"unix:{socket_path}"
    if not tls:
        return grpc.aio.insecure_channel(target)
    folder = Path(socket_path).parent
    cert, key = (folder / "cert.pem").read_bytes(), (folder / "key.pem").read_bytes()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=cert, private_key=key, certificate_chain=cert
    )
    return grpc.aio.secure_channel(
        target, credentials, options=[("grpc.ssl_target_name_override", SERVER_NAME)]
    )


async def first_message(call_method: Any) -> float:
    """Seconds from one call to its first message (the stream is read to its end)."""
    started = time.perf_counter()
    first = 0.0
    async for _ in call_method(b"go"):
        if not first:
            first = time.perf_counter() - started
    return first


async def _grpc_rounds(socket_path: str, tls: bool, rounds: int) -> list[float]:
    channel = _channel(socket_path, tls)
    call_method = channel.unary_stream(METHOD)
    firsts = [await first_message(call_method) for _ in range(WARM + rounds)]
    await channel.close()
    return firsts[WARM:]


async def _raw_rounds(socket_path: str, rounds: int) -> list[float]:
    reader, writer = await asyncio.open_unix_connection(socket_path)
    times: list[float] = []
    for i in range(WARM + rounds):
        started = time.perf_counter()
        writer.write(b"go")
        await reader.read(100)
        if i >= WARM:
            times.append(time.perf_counter() - started)
    writer.close()
    return times


@contextlib.contextmanager
def probe_server(kind: str) -> Iterator[str]:
    """A probe server of ``kind`` (raw, grpc, grpc-tls) in a subprocess, for
    as long as the block runs; yields its socket path."""
    folder = Path(tempfile.mkdtemp(prefix="pluma-grpc-floor-"))
    socket_path = str(folder / "probe.sock")
    if kind == "grpc-tls":
        _identity_files(folder)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, socket_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "READY":
            raise RuntimeError(f"the {kind} probe server did not start")
        yield socket_path
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
        for name in ("probe.sock", "cert.pem", "key.pem"):
            (folder / name).unlink(missing_ok=True)
        os.rmdir(folder)


@contextlib.asynccontextmanager
async def bare_grpc_stream() -> AsyncIterator[Callable[[], Awaitable[float]]]:
    """The floor as another benchmark can interleave it with its own calls:
    a ``grpc.aio`` server stream with mutual TLS in a subprocess; yields a
    function timing one call's first message."""
    with probe_server("grpc-tls") as socket_path:
        channel = _channel(socket_path, tls=True)
        call_method = channel.unary_stream(METHOD)
        try:
            yield lambda: first_message(call_method)
        finally:
            await channel.close()


def measure(kind: str, rounds: int) -> list[float]:
    with probe_server(kind) as socket_path:
        if kind == "raw":
            return asyncio.run(_raw_rounds(socket_path, rounds))
        return asyncio.run(_grpc_rounds(socket_path, kind == "grpc-tls", rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "SOCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(*args.serve)
        return
    sys.setswitchinterval(SWITCH_INTERVAL)
    rows = []
    for kind, label in (
        ("raw", "asyncio ping-pong"),
        ("grpc", "grpc unix"),
        ("grpc-tls", "grpc unix + mTLS"),
    ):
        values = measure(kind, args.rounds)
        rows.append([label, percentile(values, 50) * 1000, percentile(values, 90) * 1000])
    print(f"GRPC FLOOR — first message between two processes — {machine()}\n")
    print(table(["path", "first p50 ms", "first p90 ms"], rows))


if __name__ == "__main__":
    main()
