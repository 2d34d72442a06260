"""Several ``pluma serve`` instances on one PostgreSQL database act as one
service: a connection (and its key) created on one is used by another on its
next request, a conversation continued on another instance has its whole
history, and an image generated through one is listed and served by another. Real processes, a real PostgreSQL started by the test run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from tests.images.sse import frames
from tests.support.fake_a1111 import FakeA1111, png_size
from tests.support.postgres import Cluster
from tests.support.server_process import PlumaServer
from tests.support.upstreams import OpenAIUpstream, Script

KEY = "one operator secret for every instance"


@pytest.fixture
def database(pg_cluster: Cluster) -> str:
    return pg_cluster.database()


@pytest.fixture
def instances(tmp_path: Path, database: str) -> Iterator[tuple[PlumaServer, PlumaServer]]:
    env = {"PLUMA_DATABASE_URL": database, "PLUMA_SECRET_KEY": KEY}
    with ExitStack() as stack:
        # Separate data dirs: nothing is shared but the database.
        one = stack.enter_context(PlumaServer(tmp_path / "one", env=env))
        two = stack.enter_context(PlumaServer(tmp_path / "two", env=env))
        yield one, two


def test_a_connection_and_its_key_made_on_one_instance_are_used_by_another(
    instances: tuple[PlumaServer, PlumaServer], database: str
) -> None:
    one, two = instances
    with OpenAIUpstream() as upstream:
        upstream.reset(Script(text="Hello from the shared connection."))
        with one.client() as c:
            made = c.post(
                "/api/connections",
                json={"name": "shared", "base_url": upstream.base_url, "default_model": "model-a",
                      "api_key": "sk-shared-0123456789"},
            )  # fmt: skip
            assert made.status_code == 201, made.text
        with two.client() as c:
            listed = c.get("/api/connections").json()
            assert [(p["name"], p["has_key"]) for p in listed["connections"]] == [("shared", True)]
            reply = c.post(
                "/v1/chat/completions",
                json={"model": "shared/model-a", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["choices"][0]["message"]["content"] == (
                "Hello from the shared connection."
            )
        assert upstream.requests[-1].headers["authorization"] == "Bearer sk-shared-0123456789"
        with two.client() as c:
            health = c.get("/api/health", params={"upstream": "false"}).json()
            assert health["storage"].startswith("PostgreSQL at ")
    with psycopg.connect(database) as conn:
        stored = b"".join(bytes(c) for (c,) in conn.execute("SELECT ciphertext FROM secrets"))
        documents = str(conn.execute("SELECT doc FROM documents").fetchall())
    assert b"sk-shared" not in stored and "sk-shared" not in documents


def test_a_conversation_continued_on_another_instance_has_its_whole_history(
    instances: tuple[PlumaServer, PlumaServer],
) -> None:
    one, two = instances
    with OpenAIUpstream() as upstream:
        with one.client() as c:
            c.post(
                "/api/connections",
                json={"name": "up", "base_url": upstream.base_url, "default_model": "model-a"},
            ).raise_for_status()
            conversation = c.post("/api/conversations", json={}).json()["id"]
            upstream.reset(Script(text="First answer."))
            first = c.post(
                "/api/chat",
                json={"conversation_id": conversation,
                      "message": {"role": "user", "content": "first question"}},
            )  # fmt: skip
            assert first.status_code == 200, first.text
        with two.client() as c:
            upstream.reset(Script(text="Second answer."))
            second = c.post(
                "/api/chat",
                json={"conversation_id": conversation,
                      "message": {"role": "user", "content": "second question"}},
            )  # fmt: skip
            assert second.status_code == 200, second.text
            stored = c.get(f"/api/conversations/{conversation}").json()["messages"]
        sent = upstream.requests[-1].json()["messages"]
    texts = [m["content"] for m in sent]
    assert texts == ["first question", "First answer.", "second question"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]


def test_an_instance_without_the_secret_key_refuses_to_start(tmp_path: Path, database: str) -> None:
    server = PlumaServer(tmp_path, env={"PLUMA_DATABASE_URL": database})
    with pytest.raises(RuntimeError):
        server.__enter__()
    log = server.log_text()
    assert "PLUMA_SECRET_KEY is not set" in log
    assert "Traceback" not in log


def test_an_instance_with_a_wrong_secret_key_refuses_to_start(
    tmp_path: Path, database: str
) -> None:
    env = {"PLUMA_DATABASE_URL": database, "PLUMA_SECRET_KEY": KEY}
    with PlumaServer(tmp_path / "first", env=env):
        pass
    wrong = PlumaServer(
        tmp_path / "second", env={**env, "PLUMA_SECRET_KEY": "some other key entirely 99"}
    )
    with pytest.raises(RuntimeError):
        wrong.__enter__()
    assert "does not match" in wrong.log_text()


def _edit_race(first: PlumaServer, second: PlumaServer) -> None:
    """Two editors read the same revision; the first save wins, the second
    gets a 409 saying why and changes nothing."""
    with first.client() as a, second.client() as b:
        made = a.post(
            "/api/connections",
            json={"name": "team", "base_url": "http://127.0.0.1:9/v1", "default_model": "m1"},
        ).json()
        read_a = a.get(f"/api/connections/{made['id']}").json()
        read_b = b.get(f"/api/connections/{made['id']}").json()
        assert read_a["revision"] == read_b["revision"]
        won = a.put(
            f"/api/connections/{made['id']}",
            json={"default_model": "m2", "revision": read_a["revision"]},
        )
        assert won.status_code == 200, won.text
        assert won.json()["revision"] == read_a["revision"] + 1
        lost = b.put(
            f"/api/connections/{made['id']}",
            json={"default_model": "m3", "revision": read_b["revision"]},
        )
        assert lost.status_code == 409, lost.text
        error = lost.json()["error"]
        assert error["code"] == "edit_conflict"
        assert "changed by someone else" in error["message"]
        assert b.get(f"/api/connections/{made['id']}").json()["default_model"] == "m2"
        # Without a revision an edit applies to whatever is current (the CLI's way).
        assert b.put(f"/api/connections/{made['id']}", json={"name": "team-2"}).status_code == 200


def test_concurrent_edits_from_two_instances_lose_no_update(
    instances: tuple[PlumaServer, PlumaServer],
) -> None:
    _edit_race(*instances)


def test_concurrent_edits_on_the_file_store_lose_no_update(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as server:
        _edit_race(server, server)


def test_an_image_made_through_one_instance_is_listed_and_served_by_another(
    instances: tuple[PlumaServer, PlumaServer],
) -> None:
    one, two = instances
    with FakeA1111(step_delay=0.01) as backend, one.client() as a, two.client() as b:
        made = a.post(
            "/api/image-connections",
            json={"name": "sd", "kind": "a1111", "base_url": backend.url, "activate": True},
        )
        assert made.status_code == 201, made.text
        body = {"prompt": "a lighthouse", "width": 64, "height": 128, "steps": 2, "seed": 7}
        with a.stream("POST", "/api/images/generate", json=body, timeout=60) as response:
            assert response.status_code == 200
            events = list(frames(response))
        assert events[-1].event == "result", events[-1]
        [record] = events[-1].data["images"]
        served_by_one = a.get(record["url"]).content
        assert png_size(served_by_one) == (64, 128)

        listed = b.get("/api/images").json()
        assert [image["id"] for image in listed["images"]] == [record["id"]]
        assert listed["total"] == 1
        image = b.get(record["url"])
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
        assert image.content == served_by_one
        parameters = b.get(record["parameters_url"]).json()
        assert parameters["parameters"]["prompt"] == "a lighthouse"
        assert parameters["connection"]["name"] == "sd"

        assert b.delete(f"/api/images/{record['id']}").status_code == 204
        assert a.get(record["url"]).status_code == 404
        assert a.get("/api/images").json()["total"] == 0
