"""A connection whose base URL points at the Pluma server itself: the
request loops back once, is refused there (508, ``Pluma-Hop``), and the
caller gets an error saying what to fix, instead of a fan-out of nested
requests until sockets run out."""

from __future__ import annotations

import re
from pathlib import Path

import anthropic
import openai
import pytest
from tests.support.server_process import PlumaServer

from pluma.server.http.hops import HOP_HEADER


def _relayed(server: PlumaServer, path: str) -> int:
    """How many requests for ``path`` the access log shows."""
    return len(re.findall(rf'"POST {re.escape(path)} HTTP/1.1" \d+', server.log_text()))


@pytest.mark.parametrize("compat", ["openai", "anthropic"])
def test_a_connection_pointing_at_pluma_itself(tmp_path: Path, compat: str) -> None:
    with PlumaServer(tmp_path, args=["--access-log"]) as server, server.client() as client:
        base = server.url + "/v1"
        created = client.post(
            "/api/connections",
            json={
                "name": "myself",
                "compat": compat,
                "base_url": base,
                "api_key": "unused-key",
                "default_model": "m",
                "activate": True,
            },
        )
        assert created.status_code == 201, created.text

        if compat == "openai":
            sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
            with pytest.raises(openai.APIStatusError) as caught:
                sdk.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], timeout=30
                )
            path = "/v1/chat/completions"
        else:
            sdk_a = anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0)
            with pytest.raises(anthropic.APIStatusError) as caught:  # type: ignore[assignment]
                sdk_a.messages.create(
                    model="m",
                    max_tokens=5,
                    messages=[{"role": "user", "content": "hi"}],
                    timeout=30,
                )
            path = "/v1/messages"
        assert caught.value.status_code == 502
        assert "loop detected" in str(caught.value) and "points back at Pluma" in str(caught.value)
        # one request from the client, one looped back, refused: no fan-out
        server.wait_for_log(rf'"POST {re.escape(path)} HTTP/1.1" 508')
        assert _relayed(server, path) == 2

        # the model list and the connection test through the same connection
        models = client.get("/api/models")
        assert models.status_code == 502 and "loop detected" in models.text, models.text
        tested = client.post(f"/api/connections/{created.json()['id']}/test")
        assert "loop detected" in tested.text, tested.text


def test_a_request_from_another_pluma_is_served_and_its_own_id_refused(tmp_path: Path) -> None:
    with PlumaServer(tmp_path) as server, server.client() as client:
        other = client.get("/api/health?upstream=false", headers={HOP_HEADER: "another-server"})
        assert other.status_code == 200
        long_chain = ", ".join(f"s{n}" for n in range(8))
        refused = client.get("/api/health?upstream=false", headers={HOP_HEADER: long_chain})
        assert refused.status_code == 508
        assert refused.json()["error"]["code"] == "loop_detected"
