"""The PostgreSQL store never blocks the server's event loop: while the
database does not answer, a request waiting on it waits alone, and a chat
stream already running keeps delivering its chunks. With a synchronous
driver the waiting request would hold the whole process (every stream
stalls until the database answers). Also: a database that goes away mid-run
is a clear 503, and the server recovers by itself when it is back.

Real processes: ``pluma serve`` on a real PostgreSQL started by the test run,
an OpenAI-compatible upstream on loopback that paces its chunks."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.support.fake_a1111 import ThreadedApp
from tests.support.postgres import Cluster
from tests.support.server_process import PlumaServer

KEY = "one operator secret for every instance"
PACE = 0.02  # seconds between the long stream's chunks


class PacedUpstream:
    """``/v1/chat/completions`` streaming one chunk every :data:`PACE` s. A
    request whose last message says ``long`` streams until :attr:`finish` is
    set; any other gets three chunks."""

    def __init__(self) -> None:
        self.finish = threading.Event()

        async def models(request: Request) -> Response:
            return JSONResponse({"object": "list", "data": [{"id": "model-a", "object": "model"}]})

        async def chat(request: Request) -> Response:
            body = await request.json()
            long = body["messages"][-1]["content"] == "long"

            async def events() -> AsyncIterator[bytes]:
                n = 0
                while (not self.finish.is_set() and n < 3000) if long else n < 3:
                    yield _chunk({"content": f"t{n} "})
                    n += 1
                    await asyncio.sleep(PACE)
                yield _chunk({}, "stop")
                yield b"data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        self.app = Starlette(
            routes=[
                Route("/v1/models", models),
                Route("/v1/chat/completions", chat, methods=["POST"]),
            ]
        )


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    data = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "model-a",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(data)}\n\n".encode()


@pytest.fixture
def database(pg_cluster: Cluster) -> str:
    return pg_cluster.database()


@pytest.fixture
def upstream() -> Iterator[tuple[PacedUpstream, str]]:
    paced = PacedUpstream()
    with ThreadedApp(paced.app) as running:
        yield paced, running.url
    paced.finish.set()


@pytest.fixture
def server(tmp_path: Path, database: str) -> Iterator[PlumaServer]:
    env = {"PLUMA_DATABASE_URL": database, "PLUMA_SECRET_KEY": KEY}
    with PlumaServer(tmp_path, env=env) as running:
        yield running


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_stream_keeps_flowing_while_the_database_does_not_answer(
    server: PlumaServer, database: str, upstream: tuple[PacedUpstream, str]
) -> None:
    paced, url = upstream
    with server.client() as c:
        made = c.post(
            "/api/connections",
            json={"name": "paced", "base_url": f"{url}/v1", "default_model": "model-a"},
        )
        assert made.status_code == 201, made.text

    arrivals: list[float] = []
    first_done: list[int] = []

    def long_stream() -> None:
        with (
            server.client() as c,
            c.stream(
                "POST",
                "/v1/chat/completions",
                json={"model": "paced/model-a", "stream": True,
                      "messages": [{"role": "user", "content": "long"}]},
                timeout=120,
            ) as response,
        ):  # fmt: skip
            first_done.append(response.status_code)
            for line in response.iter_lines():
                if line.startswith("data: {") and '"content"' in line:
                    arrivals.append(time.monotonic())

    second: list[httpx.Response] = []

    def waiting_request() -> None:
        with server.client() as c:
            second.append(
                c.post(
                    "/v1/chat/completions",
                    json={
                        "model": "paced/model-a",
                        "messages": [{"role": "user", "content": "short"}],
                    },
                    timeout=120,
                )
            )

    streamer = threading.Thread(target=long_stream)
    streamer.start()
    try:
        _wait(lambda: len(arrivals) >= 5, 30, "the long stream to start")
        with psycopg.connect(database) as locker:
            # Another client holds the profiles' table: every read of it waits.
            locker.execute("LOCK TABLE documents IN ACCESS EXCLUSIVE MODE")
            waiter = threading.Thread(target=waiting_request)
            waiter.start()

            def blocked() -> bool:
                with psycopg.connect(database, autocommit=True) as probe:
                    row = probe.execute(
                        "SELECT COUNT(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).fetchone()
                return bool(row and row[0])

            _wait(blocked, 30, "the second request to wait on the database")
            held_from = time.monotonic()
            before = len(arrivals)
            # 40 chunks arrive in ~0.8 s while the loop is free; a blocked
            # loop would deliver none until the lock is released.
            _wait(lambda: len(arrivals) >= before + 40, 20, "the stream to keep flowing")
            assert waiter.is_alive() and not second, "the second request did not wait"
            during = [t for t in arrivals if t >= held_from]
            gaps = [b - a for a, b in itertools.pairwise(during)]
            assert max(gaps) < 1.0, f"the stream stalled for {max(gaps):.2f} s"
            locker.rollback()  # the database answers again
        waiter.join(timeout=60)
        assert second and second[0].status_code == 200, second and second[0].text
        assert second[0].json()["choices"][0]["message"]["content"] == "t0 t1 t2 "
    finally:
        paced.finish.set()
        streamer.join(timeout=60)
    assert first_done == [200]


def test_a_database_restart_is_a_clear_503_then_recovers_without_a_server_restart(
    server: PlumaServer, pg_cluster: Cluster
) -> None:
    with server.client() as c:
        made = c.post(
            "/api/connections",
            json={"name": "kept", "base_url": "http://127.0.0.1:9/v1", "default_model": "m"},
        )
        assert made.status_code == 201, made.text
        pg_cluster.stop()
        try:
            down = c.get("/api/connections")
            assert down.status_code == 503, down.text
            error = down.json()["error"]
            assert error["code"] == "database_unavailable"
            assert "unreachable" in error["message"] and "retry" in error["message"]
            chat = c.post(
                "/v1/chat/completions",
                json={"model": "kept/m", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert chat.status_code == 503, chat.text
            assert "unreachable" in chat.json()["error"]["message"]
        finally:
            pg_cluster.start()

        def back() -> bool:
            response = c.get("/api/connections")
            return response.status_code == 200 and [
                p["name"] for p in response.json()["connections"]
            ] == ["kept"]

        _wait(back, 60, "the server to use the database again")
