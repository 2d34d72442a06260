"""ConnectionManager: validation, active profile, keys, fallback, providers,
changes made by another process, corrupt file at start."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from pluma.server.chat.providers.base import ChatRequest, ModelInfo, register_provider
from pluma.server.profiles import ConnectionProfile
from pluma.server.profiles.connections import (
    ConnectionManager,
    NameTaken,
    NoConnection,
    ProfileInvalid,
    ProfileNotFound,
    ReadOnlyProfile,
    fallback_profile,
    load_providers,
)
from pluma.server.storage.secrets import FileSecretStore, connection_secret

load_providers()


class RecordingProvider:
    """A seed-contract provider that remembers the profile it was built with."""

    built: ClassVar[list[ConnectionProfile]] = []

    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile
        RecordingProvider.built.append(profile)

    @property
    def id(self) -> str:
        return "platform-test"

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("m1")]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        yield "data: [DONE]"


register_provider("platform-test", RecordingProvider)


@pytest.fixture
def cm(tmp_path: Path) -> ConnectionManager:
    return ConnectionManager(tmp_path, FileSecretStore(tmp_path / "secrets.json"))


def test_create_list_update_delete(cm: ConnectionManager, tmp_path: Path) -> None:
    a = cm.create(name="Work", base_url="https://api.example.com/v1/", api_key="sk-work-123")
    assert a.base_url == "https://api.example.com/v1" and a.compat == "openai"
    assert cm.active_id == a.id  # the first profile becomes active
    b = cm.create(name="local", base_url="http://127.0.0.1:11434/v1", default_model="llama3")
    assert cm.active_id == a.id
    assert [p.name for p in cm.list()] == ["Work", "local"]
    assert cm.has_key(a) and not cm.has_key(b)
    assert cm.get_by_name("WORK") == cm.get(a.id) and cm.lookup("local").id == b.id
    assert cm.get_by_name("nope") is None

    stored = (tmp_path / "connections.json").read_text()
    assert "sk-work-123" not in stored
    assert json.loads(stored)["active"] == a.id

    updated = cm.update(
        b.id, default_model="qwen", headers={"X-Title": "pluma"}, timeouts={"idle": 30}
    )
    assert updated.default_model == "qwen" and updated.headers == {"X-Title": "pluma"}
    assert updated.timeouts.idle == 30 and updated.timeouts.connect == 10.0
    cm.update(b.id, api_key="sk-local-9")
    assert cm.resolve(cm.get(b.id)).api_key == "sk-local-9"
    cm.update(b.id, api_key=None)
    assert not cm.has_key(b.id)
    cm.update(b.id, name="Local")  # renaming itself with other case is fine

    cm.activate(b.id)
    assert cm.active_id == b.id
    cm.delete(b.id)
    assert cm.active_id == a.id
    cm.delete(a.id)
    assert cm.list() == [] and cm.active() is None
    assert cm.secrets.get(connection_secret(a.id)) is None  # deleting a profile deletes its key
    with pytest.raises(ProfileNotFound, match="zzz"):
        cm.delete("zzz")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": 3}, "name"),
        ({"compat": "nonesuch"}, "compat"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "http://user:pw@host/v1"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"headers": {"Authorization": "Bearer sk"}}, "headers.Authorization"),
        ({"headers": {"x-goog-api-key": "AIza-secret"}}, "headers.x-goog-api-key"),
        ({"headers": {"X-Auth-Token": "t0ken"}}, "headers.X-Auth-Token"),
        ({"headers": {"bad name": "v"}}, "headers"),
        ({"headers": ["x"]}, "headers"),
        ({"timeouts": {"idle": -1}}, "timeouts.idle"),
        ({"timeouts": {"forever": 1}}, "timeouts.forever"),
        ({"api_key": 5}, "api_key"),
        ({"default_model": 5}, "default_model"),
    ],
)
def test_invalid_fields_are_named(
    cm: ConnectionManager, fields: dict[str, object], field: str
) -> None:
    body: dict[str, object] = {"name": "ok", "base_url": "http://127.0.0.1:1/v1", **fields}
    with pytest.raises(ProfileInvalid) as caught:
        cm.create(**body)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert cm.list() == []


def test_names_are_unique_case_insensitively(cm: ConnectionManager) -> None:
    cm.create(name="Work", base_url="http://127.0.0.1:1/v1")
    other = cm.create(name="Home", base_url="http://127.0.0.1:2/v1")
    with pytest.raises(NameTaken, match="already exists"):
        cm.create(name="work", base_url="http://127.0.0.1:3/v1")
    with pytest.raises(NameTaken):
        cm.update(other.id, name="WORK")
    assert cm.get(other.id).name == "Home"


def test_a_failed_create_leaves_no_key_behind(cm: ConnectionManager) -> None:
    cm.create(name="Work", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(NameTaken):
        cm.create(name="work", base_url="http://127.0.0.1:3/v1", api_key="sk-orphan")
    assert "sk-orphan" not in (cm.secrets.path.read_text() if cm.secrets.path else "")  # type: ignore[union-attr]


async def test_provider_is_fresh_and_gets_the_key(cm: ConnectionManager) -> None:
    RecordingProvider.built.clear()
    p = cm.create(
        name="t", compat="platform-test", base_url="http://127.0.0.1:9/v1", api_key="sk-resolved"
    )
    async with httpx.AsyncClient() as http:
        first = cm.provider(http)
        second = cm.provider_for("T", http)
        assert first is not second
        assert first.id == "platform-test" and first.upstream == "http://127.0.0.1:9/v1"
    assert [b.api_key for b in RecordingProvider.built] == ["sk-resolved", "sk-resolved"]
    assert cm.get(p.id).api_key is None  # stored profiles never carry the key
    assert "sk-resolved" not in repr(RecordingProvider.built[0])


def test_no_connection(cm: ConnectionManager) -> None:
    with pytest.raises(NoConnection, match="--base-url"):
        cm.provider()
    profile, ok = cm.Active()
    assert not ok and profile.id == ""


async def test_fallback_serves_only_while_no_profile_exists(tmp_path: Path) -> None:
    RecordingProvider.built.clear()
    fallback = fallback_profile("http://127.0.0.1:5/v1/", "platform-test", "m")
    cm = ConnectionManager(
        tmp_path, FileSecretStore(tmp_path / "s.json"), fallback=fallback, fallback_key="sk-boot"
    )
    active, ok = cm.Active()
    assert ok and active.base_url == "http://127.0.0.1:5/v1" and cm.is_fallback(active)
    assert cm.has_key(active)
    async with httpx.AsyncClient() as http:
        cm.provider(http)
    assert RecordingProvider.built[-1].api_key == "sk-boot"
    with pytest.raises(ReadOnlyProfile):
        cm.update(active.id, name="x")
    real = cm.create(name="real", compat="platform-test", base_url="http://127.0.0.1:6/v1")
    assert cm.active_id == real.id
    assert cm.get_by_name("default") is None


def test_changes_by_another_manager_are_seen(tmp_path: Path) -> None:
    secrets = FileSecretStore(tmp_path / "secrets.json")
    one = ConnectionManager(tmp_path, secrets)
    two = ConnectionManager(tmp_path, secrets)
    a = one.create(name="a", base_url="http://127.0.0.1:1/v1")
    assert [p.name for p in two.list()] == ["a"]
    b = two.create(name="b", base_url="http://127.0.0.1:2/v1", activate=True)
    assert one.active_id == b.id
    one.delete(a.id)
    assert [p.name for p in two.list()] == ["b"]


def test_corrupt_file_at_start_is_reported_and_kept(tmp_path: Path) -> None:
    (tmp_path / "connections.json").write_text('{"connections": [')
    cm = ConnectionManager(tmp_path, FileSecretStore(tmp_path / "secrets.json"))
    assert len(cm.problems) == 1
    problem = cm.problems[0]
    assert str(tmp_path / "connections.json") in problem and "not valid JSON" in problem
    kept = list(tmp_path.glob("connections.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"connections": ['
    assert cm.list() == []
    cm.create(name="a", base_url="http://127.0.0.1:1/v1")
    assert kept[0].read_text() == '{"connections": ['


def test_malformed_entries_are_skipped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "connections.json").write_text(
        json.dumps(
            {
                "connections": [
                    {"id": "x"},
                    {"id": "y", "name": "ok", "compat": "openai", "base_url": "http://h/v1"},
                ]
            }
        )
    )
    cm = ConnectionManager(tmp_path, FileSecretStore(tmp_path / "secrets.json"))
    assert [p.name for p in cm.list()] == ["ok"]
    assert any("connection #0" in p for p in cm.problems)


def test_profiles_handed_out_are_copies(cm: ConnectionManager) -> None:
    made = cm.create(name="a", base_url="http://127.0.0.1:1/v1", headers={"X-A": "1"})
    for got in (cm.get(made.id), cm.lookup("a"), cm.get_by_name("A"), cm.active(), cm.list()[0]):
        assert got is not None
        got.api_key = "sk-leak"
        got.headers["X-B"] = "2"
        got.name = "changed"
    fresh = cm.get(made.id)
    assert fresh.api_key is None and fresh.headers == {"X-A": "1"} and fresh.name == "a"
