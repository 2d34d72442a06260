"""The front door: Host allow-list (DNS rebinding), Origin check (CSRF),
access token, body limit — on a real server — plus proof that the middleware
passes a streaming response through without buffering it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.server_process import PlumaServer, ServerStartError

from pluma.server.config import Settings
from pluma.server.http.security import SecurityMiddleware

TOKEN = "tok-" + "s3cr3t-platform-test"


def test_foreign_host_header_is_refused(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
            r = c.get("/api/health", headers={"host": host})
            assert r.status_code == 400, host
            message = r.json()["error"]["message"]
            assert "not allowed" in message and "--allowed-host" in message
        for host in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", "localhost"):
            assert (
                c.get(
                    "/api/health", params={"upstream": "false"}, headers={"host": host}
                ).status_code
                == 200
            )
        # refused before any route runs: nothing changed
        r = c.post(
            "/api/connections",
            headers={"host": "evil.example"},
            json={"name": "x", "base_url": "http://h/v1"},
        )
        assert r.status_code == 400
        assert c.get("/api/connections").json()["connections"] == []


def test_allowed_host_flag(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, args=["--allowed-host", "pluma.lan"]) as srv, srv.client() as c:
        assert (
            c.get(
                "/api/health", params={"upstream": "false"}, headers={"host": "pluma.lan:8740"}
            ).status_code
            == 200
        )
        assert c.get("/api/health", headers={"host": "other.lan"}).status_code == 400


def test_cross_origin_state_change_is_refused(tmp_path: Path) -> None:
    body = {"name": "x", "base_url": "http://127.0.0.1:9/v1"}
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        for origin in ("http://evil.example", "null", f"http://localhost:{srv.port + 1}"):
            r = c.post("/api/connections", json=body, headers={"origin": origin})
            assert r.status_code == 403, origin
            assert "cross-origin" in r.json()["error"]["message"]
        r = c.post("/api/connections", json=body, headers={"sec-fetch-site": "cross-site"})
        assert r.status_code == 403
        assert c.get("/api/connections").json()["connections"] == []
        # the page itself (same origin) may
        r = c.post(
            "/api/connections",
            json=body,
            headers={"origin": srv.url, "sec-fetch-site": "same-origin"},
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert (
            c.delete(
                f"/api/connections/{pid}", headers={"origin": "https://evil.example"}
            ).status_code
            == 403
        )
        assert (
            c.put(
                f"/api/connections/{pid}",
                json={"name": "y"},
                headers={"origin": "https://evil.example"},
            ).status_code
            == 403
        )
        # reads are not state changes, and no CORS header ever invites a foreign page
        r = c.get("/api/connections", headers={"origin": "http://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_allowed_origin_flag(tmp_path: Path) -> None:
    body = {"name": "x", "base_url": "http://127.0.0.1:9/v1"}
    with (
        PlumaServer(tmp_path, args=["--allowed-origin", "https://app.example"]) as srv,
        srv.client() as c,
    ):
        assert (
            c.post(
                "/api/connections", json=body, headers={"origin": "https://app.example"}
            ).status_code
            == 201
        )
        assert (
            c.post(
                "/api/connections", json=body, headers={"origin": "https://app2.example"}
            ).status_code
            == 403
        )


def test_token_is_required_everywhere_but_static_assets(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, token=TOKEN) as srv:
        with httpx.Client(base_url=srv.url) as bare:
            for method, path in (("GET", "/api/health"), ("GET", "/api/connections"), ("POST", "/api/connections"),
                                 ("GET", "/openapi.json"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                                 ("POST", "/v1/messages")):  # fmt: skip
                r = bare.request(method, path)
                assert r.status_code == 401, (method, path, r.text)
                assert r.headers["www-authenticate"].startswith("Bearer")
            assert (
                bare.get("/api/health", headers={"authorization": "Bearer wrong-token"}).status_code
                == 401
            )
            anthropic_shape = bare.post("/v1/messages").json()
            assert (
                anthropic_shape["type"] == "error"
                and anthropic_shape["error"]["type"] == "authentication_error"
            )
            assert "token" in bare.get("/v1/models").json()["error"]["message"]
            # each way of presenting the token
            for headers in (
                {"authorization": f"Bearer {TOKEN}"},
                {"x-api-key": TOKEN},
                {"cookie": f"pluma_token={TOKEN}"},
            ):
                assert (
                    bare.get(
                        "/api/health", params={"upstream": "false"}, headers=headers
                    ).status_code
                    == 200
                )
            # static page paths are public (they hold no data)
            assert bare.get("/").status_code != 401
        assert TOKEN not in srv.log_text()


def test_non_loopback_bind_generates_and_requires_a_token(tmp_path: Path) -> None:
    srv = PlumaServer(tmp_path, host="0.0.0.0", wait_healthy=False)
    with srv:
        match = srv.wait_for_log(r"Generated one for this run:\s+(\S+)")
        token = match.group(1)
        assert len(token) >= 24
        with httpx.Client(base_url=srv.url) as c:
            srv.token = token
            assert c.get("/api/health").status_code == 401
            health = c.get("/api/health", params={"upstream": "false"}, headers=srv.headers)
            assert health.status_code == 200 and health.json()["token_required"] is True


def test_non_loopback_bind_with_a_given_token_uses_it(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, host="0.0.0.0", token=TOKEN) as srv, srv.client() as c:
        assert c.get("/api/health", params={"upstream": "false"}).status_code == 200
        assert "Generated" not in srv.log_text()


def test_too_short_token_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="too short"):
        PlumaServer(tmp_path, token="abc", startup_timeout=20).start()


# -- the middleware never buffers a response ----------------------------------


async def test_streaming_response_passes_through_unbuffered() -> None:
    second_chunk_allowed = asyncio.Event()
    sent: list[dict[str, Any]] = []
    first_seen = asyncio.Event()

    async def streaming_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await second_chunk_allowed.wait()  # only after the client saw "one"
        await send({"type": "http.response.body", "body": b"two", "more_body": False})

    app = SecurityMiddleware(streaming_app, Settings(data_dir=Path("/nonexistent")))

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("body") == b"one":
            first_seen.set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"host", b"127.0.0.1:8740")]}  # fmt: skip
    task = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.wait_for(first_seen.wait(), 5)
    assert [m.get("body") for m in sent] == [None, b"one"]
    second_chunk_allowed.set()
    await asyncio.wait_for(task, 5)
    assert [m.get("body") for m in sent] == [None, b"one", b"two"]


def test_settings_reject_bad_values() -> None:
    from pluma.server.config import SettingsError, parse_size

    assert (
        parse_size("32M") == 32 * 1024 * 1024
        and parse_size("1024") == 1024
        and parse_size("64k") == 65536
    )
    with pytest.raises(SettingsError, match="PLUMA_MAX_BODY"):
        Settings.from_env({"PLUMA_MAX_BODY": "lots"})
    with pytest.raises(SettingsError, match="PLUMA_PORT"):
        Settings.from_env({"PLUMA_PORT": "eighty"})
    with pytest.raises(SettingsError, match="--secrets"):
        Settings.from_env({"PLUMA_SECRETS": "vault"})
    with pytest.raises(SettingsError, match="--base-url"):
        Settings.from_env({}, base_url="localhost:11434")
    # A URL without its scheme may still carry user:password@; never echoed.
    for option in ("base_url", "image_url"):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({}, **{option: "admin:hunter22@gpu.lan:7860"})
        assert "hunter22" not in str(refused.value)
    s = Settings.from_env(
        {"PLUMA_ALLOWED_HOSTS": "a.lan, b.lan", "PLUMA_DATA_DIR": "/tmp/x"}, port=9
    )
    assert s.allowed_hosts == ("a.lan", "b.lan") and s.port == 9 and str(s.data_dir) == "/tmp/x"
    assert "secret-token-value" not in repr(
        Settings(token="secret-token-value", api_key="sk-hidden")
    )
    assert "sk-hidden" not in repr(Settings(api_key="sk-hidden"))


def test_data_dir_defaults_to_the_platform_user_data_dir_and_can_be_moved() -> None:
    import platformdirs

    default = Path(platformdirs.user_data_dir("pluma", appauthor=False))
    assert Settings.from_env({}).data_dir == default
    assert Settings.from_env({"PLUMA_DATA_DIR": "/srv/pluma"}).data_dir == Path("/srv/pluma")
    flag = Settings.from_env({"PLUMA_DATA_DIR": "/srv/pluma"}, data_dir=Path("/opt/p"))
    assert flag.data_dir == Path("/opt/p")  # the flag wins over the environment


def test_fallback_upstream_from_the_environment_and_flags() -> None:
    env = {"PLUMA_BASE_URL": "http://127.0.0.1:11434/v1", "PLUMA_API_KEY": "sk-env"}
    s = Settings.from_env(env)
    assert (s.base_url, s.api_key, s.fallback_compat) == (
        "http://127.0.0.1:11434/v1",
        "sk-env",
        "openai",
    )
    s = Settings.from_env(
        {**env, "PLUMA_COMPAT": "anthropic"}, base_url="http://h:1/v1", api_key="sk-flag"
    )
    assert (s.base_url, s.api_key, s.fallback_compat) == ("http://h:1/v1", "sk-flag", "anthropic")


def test_the_page_exchanges_the_token_for_a_cookie(tmp_path: Path) -> None:
    with PlumaServer(tmp_path, token=TOKEN) as srv, httpx.Client(base_url=srv.url) as browser:
        assert browser.get("/api/connections").status_code == 401
        state = browser.get("/api/session")
        assert state.status_code == 401  # GET /api/session needs the token too
        wrong = browser.post("/api/session", json={"token": "not-the-token"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]["message"]
        assert "pluma_token" not in browser.cookies
        assert browser.post("/api/session", json={}).status_code == 422
        cross = browser.post(
            "/api/session", json={"token": TOKEN}, headers={"origin": "http://evil.example"}
        )
        assert cross.status_code == 403 and "set-cookie" not in cross.headers
        ok = browser.post("/api/session", json={"token": TOKEN}, headers={"origin": srv.url})
        assert ok.status_code == 204
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert browser.get("/api/connections").status_code == 200  # the cookie does it now
        assert browser.get("/api/session").json() == {"token_required": True, "authenticated": True}
        assert browser.delete("/api/session", headers={"origin": srv.url}).status_code == 204
        assert browser.get("/api/connections").status_code == 401
    assert TOKEN not in srv.log_text()


def test_session_without_a_token_configured(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as srv, srv.client() as c:
        assert c.get("/api/session").json() == {"token_required": False, "authenticated": True}
        assert c.post("/api/session", json={"token": "anything"}).status_code == 204


async def test_websocket_from_a_foreign_origin_is_closed_before_the_app_sees_it() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    middleware = SecurityMiddleware(app, Settings(data_dir=Path("/nonexistent")))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    def scope(origin: str) -> dict[str, Any]:
        headers = [(b"host", b"127.0.0.1:8740"), (b"origin", origin.encode())]
        return {"type": "websocket", "path": "/api/ws", "headers": headers}

    await middleware(scope("http://evil.example"), receive, send)
    assert reached == [] and sent[0]["type"] == "websocket.close" and sent[0]["code"] == 1008
    await middleware(scope("http://127.0.0.1:8740"), receive, send)
    assert reached == ["/api/ws"]
