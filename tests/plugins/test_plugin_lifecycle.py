"""The plugin host against real plugin processes: handshake failures,
crashes, hangs, cancellation, concurrency. Each test starts its own
:class:`PluginHost` on a fresh data directory."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pluma import llm
from pluma.plugin.handshake import MAGIC_COOKIE_KEY
from pluma.server.chat.providers.base import ChatRequest, create_provider
from pluma.server.chat.providers.bridge import events_for
from pluma.server.plugins import PluginHost
from pluma.server.profiles import ConnectionProfile, ProfileTimeouts
from tests.support.plugin_env import SUPPORT, install_python, install_script

pytestmark = pytest.mark.xdist_group("plugins")


def profile(idle: float | None = 120.0) -> ConnectionProfile:
    return ConnectionProfile(
        id="p1",
        name="plug",
        compat="echo",
        base_url="http://127.0.0.1:9",
        api_key="sk-secret-plugin-key",
        timeouts=ProfileTimeouts(first_byte=5.0, idle=idle),
    )


def request(model: str, text: str = "hi") -> ChatRequest:
    return ChatRequest(model=model, context=llm.Context(messages=[llm.UserMessage(text)]))


async def collect(stream: llm.EventStream) -> tuple[str, llm.Event]:
    text = ""
    last: llm.Event | None = None
    async for event in stream:
        if event.type == "text_delta":
            text += event.delta
        last = event
    assert last is not None
    return text, last


@pytest.fixture
async def echo_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PluginHost]:
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("PLUMA_TEST_MARKS", str(marks))
    install_python(tmp_path / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    host = PluginHost(tmp_path / "data")
    await host.start()
    assert host.plugins[0].state == "running", host.plugins[0].reason
    try:
        yield host
    finally:
        await host.stop()


async def start_script(tmp_path: Path, body: str, handshake_timeout: float = 5.0) -> PluginHost:
    install_script(tmp_path / "data", "chat", "bad", body)
    host = PluginHost(tmp_path / "data", handshake_timeout=handshake_timeout)
    await host.start()
    await host.stop()
    return host


async def test_a_line_that_is_not_a_handshake_is_named(tmp_path: Path) -> None:
    host = await start_script(tmp_path, "#!/bin/sh\necho 'hello from a plugin'\nsleep 30\n")
    (plugin,) = host.plugins
    assert plugin.state == "failed"
    assert "bad handshake" in plugin.reason and "expected at least 5" in plugin.reason
    assert host.problems == [f"plugin chat/bad: {plugin.reason}"]


async def test_a_plugin_expecting_another_cookie_says_why(tmp_path: Path) -> None:
    body = (
        "#!/bin/sh\n"
        '[ "$OTHER_APP_COOKIE" = yes ] || { echo "This binary is a plugin for another app" >&2; exit 1; }\n'
    )
    host = await start_script(tmp_path, body)
    (plugin,) = host.plugins
    assert plugin.state == "failed"
    assert "exited (1) before its handshake" in plugin.reason
    assert "This binary is a plugin for another app" in plugin.reason


def test_the_kit_refuses_to_run_without_the_cookie(tmp_path: Path) -> None:
    path = install_python(tmp_path / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    env = {k: v for k, v in os.environ.items() if k != MAGIC_COOKIE_KEY}
    result = subprocess.run([str(path)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "is a Pluma plugin" in result.stderr and result.stdout == ""


async def test_a_wrong_protocol_version_is_named(tmp_path: Path) -> None:
    host = await start_script(tmp_path, "#!/bin/sh\necho '1|7|unix|/tmp/nothing|grpc|'\nsleep 30\n")
    (plugin,) = host.plugins
    assert plugin.state == "failed"
    assert "protocol v7" in plugin.reason and "speaks v1" in plugin.reason


async def test_a_netrpc_plugin_is_named(tmp_path: Path) -> None:
    host = await start_script(
        tmp_path, "#!/bin/sh\necho '1|1|unix|/tmp/nothing|netrpc|'\nsleep 30\n"
    )
    assert "'netrpc'" in host.plugins[0].reason


async def test_handshake_timeout_kills_the_plugin(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    body = f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 30\n"
    started = time.monotonic()
    host = await start_script(tmp_path, body, handshake_timeout=0.5)
    assert time.monotonic() - started < 5
    (plugin,) = host.plugins
    assert plugin.state == "failed" and "no handshake within 0.5 s" in plugin.reason
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_world_writable_plugin_is_refused(tmp_path: Path) -> None:
    path = install_python(tmp_path / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    path.chmod(0o777)
    host = PluginHost(tmp_path / "data")
    await host.start()
    await host.stop()
    (plugin,) = host.plugins
    assert plugin.state == "failed" and plugin.running is None
    assert "writable by other users" in plugin.reason and "chmod go-w" in plugin.reason


async def test_tcp_loopback_plugins_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUMA_PLUGIN_NETWORK", "tcp")
    install_python(tmp_path / "data", "chat", "echo", SUPPORT / "echo_chat.py")
    host = PluginHost(tmp_path / "data")
    await host.start()
    try:
        (plugin,) = host.plugins
        assert plugin.running is not None and plugin.running.handshake.network == "tcp"
        async with httpx.AsyncClient() as http:
            provider = create_provider(profile(), http)
            text, last = await collect(events_for(provider, request("echo", "over tcp")))
        assert (text, last.type) == ("over tcp ", "done")
    finally:
        await host.stop()


async def test_crash_mid_stream_keeps_partial_text_and_restarts(echo_host: PluginHost) -> None:
    plugin = echo_host.plugins[0]
    async with httpx.AsyncClient() as http:
        provider = create_provider(profile(), http)
        text, last = await collect(events_for(provider, request("crash-3")))
        assert text == "w0 w1 w2 "
        assert last.type == "error" and last.message is not None
        assert "stopped answering" in (last.message.error_message or "")
        assert "sk-secret" not in (last.message.error_message or "")
        # the next stream waits for the restart and succeeds
        text, last = await collect(events_for(provider, request("echo", "back again")))
    assert (text, last.type) == ("back again ", "done"), last.message and last.message.error_message
    assert plugin.state == "running" and plugin.restarts == 1


async def test_a_plugin_killed_between_streams_is_restarted(echo_host: PluginHost) -> None:
    plugin = echo_host.plugins[0]
    assert plugin.running is not None
    old_pid = plugin.running.process.pid
    os.kill(old_pid, signal.SIGKILL)
    await plugin.running.process.wait()
    async with httpx.AsyncClient() as http:
        provider = create_provider(profile(), http)
        text, last = await collect(events_for(provider, request("echo", "after a kill")))
    assert (text, last.type) == ("after a kill ", "done")
    assert plugin.running.process.pid != old_pid


async def test_a_hang_hits_the_idle_timeout(echo_host: PluginHost) -> None:
    async with httpx.AsyncClient() as http:
        provider = create_provider(profile(idle=0.5), http)
        started = time.monotonic()
        text, last = await collect(events_for(provider, request("hang-2")))
    assert time.monotonic() - started < 5
    assert text == "w0 w1 "
    assert last.type == "error" and "for 0.5 s" in (last.message.error_message or "")  # type: ignore[union-attr]


async def test_leaving_a_stream_cancels_the_plugin_call(
    echo_host: PluginHost, tmp_path: Path
) -> None:
    mark = tmp_path / "marks" / "cancelled"
    async with httpx.AsyncClient() as http:
        provider = create_provider(profile(), http)
        stream = events_for(provider, request("slow"))
        seen = 0
        async for event in stream:
            seen += event.type == "text_delta"
            if seen == 3:
                break
        left = time.time()
        await stream.aclose()
    deadline = time.monotonic() + 1.0
    # the plugin is another process: the file it writes is the only signal
    while not mark.exists() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert mark.exists(), "the plugin did not see the cancellation within 1 s"
    assert float(mark.read_text()) - left < 1.0


async def test_fifty_concurrent_streams_through_one_plugin(echo_host: PluginHost) -> None:
    async with httpx.AsyncClient() as http:
        provider = create_provider(profile(), http)
        results = await asyncio.gather(
            *(collect(events_for(provider, request("count-200"))) for _ in range(50))
        )
    expected = "".join(f"w{i} " for i in range(200))
    assert all(text == expected and last.type == "done" for text, last in results)


def test_python_kit_reports_help_when_run_by_hand(tmp_path: Path) -> None:
    # run through the interpreter directly too: the refusal does not depend on the shebang
    env = {k: v for k, v in os.environ.items() if k != MAGIC_COOKIE_KEY}
    result = subprocess.run(
        [sys.executable, str(SUPPORT / "echo_chat.py")], env=env, capture_output=True, text=True,
        timeout=30, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 1 and "pluma plugins check" in result.stderr
