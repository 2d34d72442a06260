"""A chat plugin written in Go with hashicorp/go-plugin (examples/plugins/go-echo),
built in this test run from Debian's packages, streams through `pluma serve`:
the proof that the host speaks go-plugin's real protocol (handshake line,
automatic mutual TLS, grpc.health.v1, GRPCController/Shutdown)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.plugins.test_plugin_orphans import wait_gone
from tests.support.plugin_env import EXAMPLES, plugin_dir
from tests.support.server_process import PlumaServer

pytestmark = pytest.mark.xdist_group("plugins")

INSTALL = (
    "sudo apt-get install golang-go golang-github-hashicorp-go-plugin-dev protobuf-compiler "
    "protoc-gen-go-1-3 golang-goprotobuf-dev golang-google-grpc-dev protoc-gen-go-grpc "
    "(or run `make plugin-deps` as root)"
)


@pytest.fixture(scope="module")
def go_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ensure = EXAMPLES.parents[1] / "scripts" / "ensure-go-plugin-deps.sh"
    if subprocess.run([str(ensure)], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"the Go plugin test needs Debian's Go packages: {INSTALL}")
    assert shutil.which("go") and shutil.which("protoc")
    work = tmp_path_factory.mktemp("go-build")
    out = work / "goecho"
    result = subprocess.run(
        [str(EXAMPLES / "go-echo" / "build.sh"), str(out), str(work / "gopath")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, go_plugin: Path) -> Iterator[PlumaServer]:
    tmp = tmp_path_factory.mktemp("go-serve")
    target = plugin_dir(tmp / "data", "chat") / "goecho"
    shutil.copy(go_plugin, target)
    target.chmod(0o755)
    with PlumaServer(
        tmp,
        data_dir=tmp / "data",
        args=["--base-url", "http://127.0.0.1:9", "--compat", "goecho", "--model", "echo"],
    ) as srv:
        yield srv


def test_the_go_plugin_runs_with_mutual_tls(server: PlumaServer) -> None:
    with server.client() as client:
        (plugin,) = client.get("/api/plugins").json()["plugins"]
    assert plugin["state"] == "running", plugin
    assert (plugin["key"], plugin["version"], plugin["mtls"]) == ("goecho", "1.0.0", True)


def test_a_chat_streams_through_the_go_plugin(server: PlumaServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key or "x")
    stream = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "go plugins stream too"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "go plugins stream too "
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_the_go_plugin_is_stopped_with_the_server(server: PlumaServer) -> None:
    with server.client() as client:
        (plugin,) = client.get("/api/plugins").json()["plugins"]
    server.stop()
    assert wait_gone(int(plugin["pid"])), "the Go plugin outlived the server"
    log = server.log_text()
    assert "[plugin goecho] configuring server automatic mTLS" in log  # hclog JSON, forwarded
