"""The platform routes on a real ``pluma serve`` process, with a local
OpenAI-shaped upstream (``GET /v1/models``) from the scripted server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.support.scripted_server import Reply, Request, ScriptedServer
from tests.support.server_process import PlumaServer

UPSTREAM_KEY = "sk-upstream-7f3a9c"


def models_upstream(key: str | None = UPSTREAM_KEY, echo_key: bool = True):  # type: ignore[no-untyped-def]
    """An OpenAI ``/v1/models`` endpoint that checks the Bearer key like
    OpenAI does (401 ``invalid_api_key``; this one even echoes the key back,
    to prove Pluma never passes it on)."""

    def handler(request: Request) -> Reply:
        if request.path != "/v1/models":
            return Reply.json({"error": {"message": f"no route {request.path}"}}, status=404)
        sent = request.headers.get("authorization", "")
        if key is not None and sent != f"Bearer {key}":
            shown = sent.removeprefix("Bearer ") if echo_key else "***"
            return Reply.json(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {shown}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                        "param": None,
                    }
                },
                status=401,
            )
        return Reply.json(
            {"object": "list", "data": [
                {"id": "gpt-test", "object": "model", "created": 1700000000, "owned_by": "acme"},
                {"id": "gpt-test-mini", "object": "model", "created": 1700000000, "owned_by": "acme"},
            ]}
        )  # fmt: skip

    return handler


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(models_upstream()) as server:
        yield server


def test_crud_test_and_models_through_the_api(tmp_path: Path, upstream: ScriptedServer) -> None:
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        assert {"anthropic", "openai"} <= set(c.get("/api/providers").json()["providers"])
        assert c.get("/api/connections").json() == {"active": None, "connections": []}
        created = c.post(
            "/api/connections",
            json={"name": "Acme", "base_url": upstream.url + "/v1", "api_key": UPSTREAM_KEY},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        pid = body["id"]
        assert body["has_key"] is True and body["active"] is True and "api_key" not in body

        second = c.post(
            "/api/connections", json={"name": "Other", "base_url": "http://127.0.0.1:9/v1"}
        ).json()
        listed = c.get("/api/connections").json()
        assert listed["active"] == pid
        assert [x["name"] for x in listed["connections"]] == ["Acme", "Other"]
        assert c.get(f"/api/connections/{pid}").json()["name"] == "Acme"
        assert c.get("/api/connections/acme").json()["id"] == pid  # by name too

        test = c.post(f"/api/connections/{pid}/test").json()
        assert test["verdict"] == "ok" and test["reachable"] and test["key_accepted"]
        assert test["models"] == 2 and test["model_ids"] == ["gpt-test", "gpt-test-mini"]
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"

        models = c.get("/api/models").json()
        assert models["connection"]["id"] == pid
        assert [m["id"] for m in models["models"]] == ["gpt-test", "gpt-test-mini"]
        assert models["models"][0]["family"] == "acme"

        health = c.get("/api/health").json()
        assert health["status"] == "ok" and health["upstream_ok"] is True
        assert health["active"]["name"] == "Acme" and health["provider"] == "openai"
        assert health["upstream"] == upstream.url + "/v1"

        # a wrong key: the verdict says so, in words
        put = c.put(f"/api/connections/{pid}", json={"api_key": "sk-wrong-1"})
        assert put.status_code == 200 and put.json()["has_key"] is True
        test = c.post(f"/api/connections/{pid}/test").json()
        assert (
            test["verdict"] == "key_rejected"
            and test["reachable"] is True
            and test["key_accepted"] is False
        )
        assert "HTTP 401" in test["message"] and "sk-wrong-1" not in json.dumps(test)
        bad_models = c.get("/api/models", params={"connection": "Acme"})
        assert bad_models.status_code == 401 and "sk-wrong-1" not in bad_models.text
        assert "pluma keys set Acme" in bad_models.json()["error"]["message"]
        assert bad_models.headers["x-should-retry"] == "false"
        # The OpenAI SDK (default retries) asks once: a rejected key is not retried.
        upstream.requests.clear()
        sdk = openai.OpenAI(base_url=srv.url + "/v1", api_key=srv.api_key)
        with pytest.raises(openai.AuthenticationError, match="pluma keys set Acme"):
            sdk.models.list()
        sdk.close()
        assert len(upstream.requests) == 1
        degraded = c.get("/api/health").json()
        assert degraded["status"] == "degraded" and degraded["upstream_ok"] is False

        # clear the key, rename, activate the other, delete
        cleared = c.put(f"/api/connections/{pid}", json={"api_key": None, "name": "Acme2"}).json()
        assert cleared["has_key"] is False and cleared["name"] == "Acme2"
        unreachable = c.post(f"/api/connections/{second['id']}/test").json()
        assert unreachable["verdict"] == "unreachable" and unreachable["reachable"] is False
        activated = c.post(f"/api/connections/{second['id']}/activate").json()
        assert activated["active"] is True
        assert c.get("/api/connections").json()["active"] == second["id"]
        assert c.delete(f"/api/connections/{pid}").status_code == 204
        missing = c.get(f"/api/connections/{pid}")
        assert missing.status_code == 404 and pid in missing.json()["error"]["message"]

        stored = (srv.data_dir / "connections.json").read_text()
        assert "sk-" not in stored and json.loads(stored)["active"] == second["id"]


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/health", None),
    ("GET", "/api/providers", None),
    ("GET", "/api/connections", None),
    ("GET", "/api/connections/{id}", None),
    ("POST", "/api/connections/{id}/test", None),
    ("GET", "/api/models", None),
    ("GET", "/api/models?connection={id}", None),
    ("PUT", "/api/connections/{id}", {"default_model": "gpt-test"}),
    ("POST", "/api/connections/{id}/activate", None),
    ("GET", "/api/discovery", None),
    ("GET", "/openapi.json", None),
    ("POST", "/api/connections", {"name": "dup", "base_url": "x", "api_key": "{key}"}),
    ("PUT", "/api/connections/{id}", {"name": "a/b", "api_key": "{key}"}),
    (
        "POST",
        "/api/connections",
        {"name": "Acme", "base_url": "http://127.0.0.1:1/v1", "api_key": "{key}"},
    ),
]


@pytest.mark.parametrize("wrong_key_first", [True, False])
def test_a_key_never_appears_in_any_response_or_the_log(
    tmp_path: Path, wrong_key_first: bool
) -> None:
    key = "sk-distinctive-" + ("a1b2c3d4e5" if wrong_key_first else "f6g7h8i9j0")
    # The upstream accepts only another key and echoes what it got, so the
    # failure paths carry our key too.
    with ScriptedServer(models_upstream(key=None if not wrong_key_first else "sk-other")) as up:
        with (
            PlumaServer(tmp_path, args=["--log-level", "debug", "--access-log"]) as srv,
            srv.client() as c,
        ):
            seen: list[str] = []
            r = c.post(
                "/api/connections",
                json={"name": "Acme", "base_url": up.url + "/v1", "api_key": key},
            )
            seen.append(r.text + str(r.headers))
            pid = r.json()["id"]
            for method, path, body in ROUTES:
                if body is not None:
                    body = json.loads(json.dumps(body).replace("{key}", key))
                r = c.request(method, path.replace("{id}", pid), json=body)
                assert r.status_code < 500 or r.status_code == 502, (path, r.text)
                seen.append(r.text + str(r.headers))
            r = c.post(
                "/api/connections",
                json={"name": "Acme", "base_url": "http://127.0.0.1:1/v1", "api_key": key},
            )
            assert r.status_code == 422
            seen.append(r.text)
            r = c.delete(f"/api/connections/{pid}")
            seen.append(r.text)
            assert up.requests, "the upstream was asked"
            if wrong_key_first:
                assert any(key in req.headers.get("authorization", "") for req in up.requests)
        log = srv.log_text()
    assert "connection 'Acme'" in log  # the log is being written
    for text in seen:
        assert key not in text
    assert key not in log
    for path in srv.data_dir.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_fallback_from_base_url(tmp_path: Path, upstream: ScriptedServer) -> None:
    env = {"PLUMA_API_KEY": UPSTREAM_KEY}
    with PlumaServer(
        tmp_path, args=["--base-url", upstream.url + "/v1", "--model", "gpt-test"], env=env
    ) as srv:
        with srv.client() as c:
            health = c.get("/api/health").json()
            assert health["status"] == "ok", health
            assert health["active"]["fallback"] is True and health["active"]["has_key"] is True
            assert health["upstream"] == upstream.url + "/v1" and health["upstream_ok"] is True
            assert health["first_run"] is False
            models = c.get("/api/models").json()
            assert [m["id"] for m in models["models"]] == ["gpt-test", "gpt-test-mini"]
            assert upstream.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
            listed = c.get("/api/connections").json()
            assert [x["fallback"] for x in listed["connections"]] == [True]
            fid = listed["connections"][0]["id"]
            refused = c.delete(f"/api/connections/{fid}")
            assert refused.status_code == 409 and "--base-url" in refused.json()["error"]["message"]
            # (editing it saves a stored copy instead: tests/server/test_rough_edges.py)
            # a real profile takes over from the fallback
            made = c.post(
                "/api/connections", json={"name": "real", "base_url": "http://127.0.0.1:9/v1"}
            ).json()
            assert (
                c.get("/api/health", params={"upstream": "false"}).json()["active"]["id"]
                == made["id"]
            )
        assert UPSTREAM_KEY not in srv.log_text()


def test_corrupt_connections_file_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "connections.json").write_text('{"version": 1, "connections": [{"id": ')
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        health = c.get("/api/health").json()
        assert health["status"] == "setup" or health["status"] == "degraded"
        assert len(health["problems"]) == 1
        problem = health["problems"][0]
        assert str(data / "connections.json") in problem and "not valid JSON" in problem
        kept = list(data.glob("connections.json.corrupt-*"))
        assert len(kept) == 1 and kept[0].read_text() == '{"version": 1, "connections": [{"id": '
        assert str(kept[0]) in problem
        # the server works on: a new profile goes into a fresh file
        assert (
            c.post(
                "/api/connections", json={"name": "a", "base_url": "http://127.0.0.1:9/v1"}
            ).status_code
            == 201
        )
        assert kept[0].read_text() == '{"version": 1, "connections": [{"id": '
        assert "not valid JSON" in srv.log_text()


MALFORMED: list[tuple[str, str, Any, int, str]] = [
    # method, path, body (bytes: raw; else JSON), status, text the message must contain
    ("POST", "/api/connections", b"{not json", 400, "not valid JSON"),
    ("POST", "/api/connections", b"", 400, "body"),
    ("POST", "/api/connections", [1, 2], 422, "JSON object"),
    ("POST", "/api/connections", {"base_url": "http://h/v1"}, 422, "name"),
    ("POST", "/api/connections", {"name": "a"}, 422, "base_url"),
    ("POST", "/api/connections", {"name": 5, "base_url": "http://h/v1"}, 422, "name"),
    (
        "POST",
        "/api/connections",
        {"name": "a", "base_url": "http://h/v1", "colour": "red"},
        422,
        "colour",
    ),
    ("POST", "/api/connections", {"name": "a", "base_url": "gopher://h"}, 422, "base_url"),
    (
        "POST",
        "/api/connections",
        {"name": "a", "base_url": "http://h/v1", "compat": "nope"},
        422,
        "compat",
    ),
    (
        "POST",
        "/api/connections",
        {"name": "a", "base_url": "http://h/v1", "headers": {"Authorization": "x"}},
        422,
        "headers.Authorization",
    ),
    (
        "POST",
        "/api/connections",
        {"name": "a", "base_url": "http://h/v1", "timeouts": {"idle": "soon"}},
        422,
        "timeouts.idle",
    ),
    (
        "POST",
        "/api/connections",
        {"name": "a", "base_url": "http://h/v1", "timeouts": {"idle": -2}},
        422,
        "timeouts.idle",
    ),
    (
        "POST",
        "/api/connections",
        {"name": "taken", "base_url": "http://h/v1"},
        422,
        "already exists",
    ),
    ("PUT", "/api/connections/{id}", b"{", 400, "not valid JSON"),
    ("PUT", "/api/connections/{id}", {}, 422, "changes nothing"),
    ("PUT", "/api/connections/{id}", {"name": None}, 422, "name"),
    ("PUT", "/api/connections/{id}", {"base_url": 7}, 422, "base_url"),
    ("PUT", "/api/connections/{id}", {"api_key": ["x"]}, 422, "api_key"),
    ("PUT", "/api/connections/nosuch", {"name": "x"}, 404, "nosuch"),
    ("DELETE", "/api/connections/nosuch", None, 404, "nosuch"),
    ("POST", "/api/connections/nosuch/activate", None, 404, "nosuch"),
    ("POST", "/api/connections/nosuch/test", None, 404, "nosuch"),
    ("GET", "/api/connections/nosuch", None, 404, "nosuch"),
    ("GET", "/api/models?connection=nosuch", None, 404, "nosuch"),
    ("GET", "/api/health?upstream=maybe", None, 422, "upstream"),
    ("POST", "/v1/no-such-route", {}, 404, "no route POST /v1/no-such-route"),
    ("GET", "/v1/no/such/route", None, 404, "/v1/chat/completions"),
    ("DELETE", "/api/no-such-route", None, 404, "no route DELETE /api/no-such-route"),
    ("GET", "/v1/chat/completions", None, 405, "use POST"),
    ("PATCH", "/api/connections", {}, 405, "use GET, POST"),
]


def test_malformed_requests_get_4xx_naming_the_problem(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        assert c.get("/api/models").status_code == 409  # no connection yet: says how to add one
        assert "--base-url" in c.get("/api/models").json()["error"]["message"]
        pid = c.post(
            "/api/connections", json={"name": "taken", "base_url": "http://127.0.0.1:9/v1"}
        ).json()["id"]
        for method, path, body, status, needle in MALFORMED:
            kwargs: dict[str, Any] = {}
            if isinstance(body, bytes):
                kwargs = {"content": body, "headers": {"content-type": "application/json"}}
            elif body is not None:
                kwargs = {"json": body}
            r = c.request(method, path.replace("{id}", pid), **kwargs)
            assert r.status_code == status, (method, path, body, r.text)
            message = r.json()["error"]["message"]
            assert needle in message, (method, path, body, message)
            if status == 400:  # not JSON: no field to name (a parse offset is not one)
                assert r.json()["error"]["param"] is None, r.text
        assert [x["name"] for x in c.get("/api/connections").json()["connections"]] == ["taken"]


def test_openapi_lists_the_platform_routes(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    for path in ("/api/health", "/api/providers", "/api/presets", "/api/connections", "/api/connections/{ref}",
                 "/api/connections/{ref}/activate", "/api/connections/{ref}/test", "/api/models",
                 "/api/discovery", "/api/session", "/api/chat", "/v1/models",
                 "/v1/chat/completions", "/v1/messages"):  # fmt: skip
        assert path in paths


def test_presets_come_from_the_catalog_for_the_registered_compats(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        kinds = c.get("/api/providers").json()["providers"]
        presets = {p["id"]: p for p in c.get("/api/presets").json()["presets"]}
    assert presets["groq"] == {
        "id": "groq",
        "name": "Groq",
        "compat": "openai",
        "base_url": "https://api.groq.com/openai/v1",
        "key_env": "GROQ_API_KEY",
        "doc": presets["groq"]["doc"],
        "models": presets["groq"]["models"],
    }
    assert presets["anthropic"]["compat"] == "anthropic"
    assert presets["anthropic"]["base_url"] == "https://api.anthropic.com/v1"
    # most OpenAI models are on the Responses API in the catalog (reasoning kept)
    assert presets["openai"]["compat"] == "openai-responses"
    assert len(presets) > 100
    assert {p["compat"] for p in presets.values()} <= set(kinds)
    # Gemini's preset appears once a provider handles its compat.
    assert ("google" in presets) == ("gemini" in kinds)


def test_first_run_discovery_offers_running_local_backends(tmp_path: Path) -> None:
    with ScriptedServer() as dead:
        pass  # closed again: a port with nothing listening
    with (
        ScriptedServer(models_upstream(key=None)) as open_up,
        ScriptedServer(models_upstream()) as keyed,
    ):
        _discovery(
            tmp_path, f"Fake Ollama={open_up.url}/v1,Nothing={dead.url}/v1,Keyed={keyed.url}/v1"
        )


def _discovery(tmp_path: Path, targets: str) -> None:
    env = {"PLUMA_DISCOVERY": "1", "PLUMA_DISCOVERY_TARGETS": targets}
    with PlumaServer(tmp_path, env=env) as srv, srv.client() as c:
        health = c.get("/api/health").json()
        assert health["status"] == "setup" and health["first_run"] is True
        assert "no connection" in health["message"]
        found = c.get("/api/discovery").json()
        assert [t["label"] for t in found["targets"]] == ["Fake Ollama", "Nothing", "Keyed"]
        assert [(f["label"], f["needs_key"]) for f in found["found"]] == [
            ("Fake Ollama", False),
            ("Keyed", True),
        ]
        offer = found["found"][0]
        assert offer["models"] == ["gpt-test", "gpt-test-mini"]
        made = c.post("/api/connections", json=offer["profile"])  # the one-click profile
        assert made.status_code == 201, made.text
        assert c.get("/api/health").json()["status"] == "ok"


def test_health_without_token_requirement_reports_secret_store(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, env={"PLUMA_SECRETS": "file"}) as srv, srv.client() as c:
        health = c.get("/api/health").json()
        assert health["secret_store"]["fallback"] is True
        assert str(srv.data_dir / "secrets.json") in health["secret_store"]["path"]
        assert health["token_required"] is False
    assert "API keys are stored in" in srv.log_text()


def test_health_answers_fast_without_upstream_check(tmp_path: Path) -> None:
    stall = ScriptedServer(lambda r: Reply(body=[], hang=True))  # headers, then nothing
    with (
        stall,
        PlumaServer(tmp_path, args=["--base-url", stall.url + "/v1"]) as srv,
        srv.client() as c,
    ):
        quick = c.get("/api/health", params={"upstream": "false"}).json()
        assert quick["upstream_ok"] is None and quick["status"] == "ok"
        slow = c.get("/api/health").json()
        assert slow["upstream_ok"] is False and "did not answer" in slow["upstream_error"]


def test_body_over_the_limit_gets_413(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, args=["--max-body", "64k"]) as srv, srv.client() as c:
        big = {"name": "a", "base_url": "http://127.0.0.1:9/v1", "default_model": "x" * 70_000}
        r = c.post("/api/connections", json=big)
        assert r.status_code == 413
        assert (
            "65536 bytes" in r.json()["error"]["message"]
            and "--max-body" in r.json()["error"]["message"]
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"name": "a", "base_url": "http://127.0.0.1:9/v1", "default_model": "'
            for _ in range(20):
                yield b"y" * 4096
            yield b'"}'

        r = c.post(
            "/api/connections", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and "65536" in r.json()["error"]["message"]
        for path in ("/api/chat", "/v1/chat/completions", "/v1/messages"):  # they read raw bodies
            r = c.post(path, content=chunks(), headers={"content-type": "application/json"})
            assert r.status_code == 413, (path, r.text)
            error = r.json()["error"]
            assert "65536" in error["message"] and "--max-body" in error["message"]
            if path == "/v1/messages":
                assert r.json()["type"] == "error" and error["type"] == "request_too_large"
        small = c.post("/api/connections", json={"name": "a", "base_url": "http://127.0.0.1:9/v1"})
        assert small.status_code == 201
        assert c.get("/api/connections").json()["connections"][0]["default_model"] == ""


def test_health_reuses_a_recent_upstream_answer(tmp_path: Path, upstream: ScriptedServer) -> None:
    srv = PlumaServer(
        tmp_path, args=["--base-url", upstream.url + "/v1"], env={"PLUMA_API_KEY": UPSTREAM_KEY}
    )
    with srv, srv.client() as c:
        for _ in range(3):
            assert c.get("/api/health").json()["upstream_ok"] is True
        assert len([r for r in upstream.requests if r.path == "/v1/models"]) == 1
        c.post("/api/connections", json={"name": "other", "base_url": upstream.url + "/v1"})
        assert c.get("/api/health").json()["active"]["name"] == "other"
        assert (
            len([r for r in upstream.requests if r.path == "/v1/models"]) == 2
        )  # new profile: asked again
