"""ImageConnectionManager and Gallery on a temp data dir (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pluma.server.images.a1111 import A1111Provider
from pluma.server.images.comfyui import ComfyUIProvider
from pluma.server.images.manager import (
    ImageConnectionManager,
    NoImageConnection,
    image_fallback_profile,
)
from pluma.server.images.masking import MaskedImageProvider
from pluma.server.images.workflows import default_workflow
from pluma.server.profiles.registry import ProfileInvalid, ProfileReadOnly, UnknownProfile
from pluma.server.storage.secrets import KeyringSecretStore, MemoryKeyring, image_connection_secret


@pytest.fixture
def secrets() -> KeyringSecretStore:
    return KeyringSecretStore(MemoryKeyring())


async def test_create_persist_and_secret(tmp_path: Path, secrets: KeyringSecretStore) -> None:
    manager = ImageConnectionManager(tmp_path, secrets)
    profile = manager.create(
        name="Comfy",
        kind="comfyui",
        base_url="http://127.0.0.1:8188/",
        auth="bearer",
        secret="tok-abcdef",
        workflow=json.dumps(default_workflow()),
    )
    assert profile.base_url == "http://127.0.0.1:8188"
    assert manager.active_id == profile.id
    doc = json.loads((tmp_path / "image_connections.json").read_text())
    assert doc["connections"][0]["workflow"]["6"]["inputs"]["text"] == "%prompt%"
    assert "tok-abcdef" not in json.dumps(doc)
    assert secrets.get(image_connection_secret(profile.id)) == "tok-abcdef"
    # The keyring entry is named as the contract says: service "pluma",
    # "image-connection:<profile-id>".
    keyring = MemoryKeyring()
    assert keyring.get_password("pluma", f"image-connection:{profile.id}") == "tok-abcdef"

    # Another process (a second manager on the same dir) sees it, secret resolved on use.
    other = ImageConnectionManager(tmp_path, secrets)
    masked, seen = other.provider("comfy")
    assert isinstance(masked, MaskedImageProvider)
    provider = masked.inner
    assert isinstance(provider, ComfyUIProvider)
    assert seen.secret is None
    assert provider.http.headers == {"Authorization": "Bearer tok-abcdef"}

    other.update(profile.id, secret=None, name="Comfy 2")
    assert manager.lookup("comfy 2").id == profile.id
    assert not manager.has_secret(manager.get(profile.id))
    assert keyring.get_password("pluma", f"image-connection:{profile.id}") is None
    manager.delete(profile.id)
    assert manager.list() == []
    # Removing a profile removes its secret too.
    other_profile = manager.create(name="SD", base_url="http://h", auth="basic", secret="pw-1")
    assert keyring.get_password("pluma", f"image-connection:{other_profile.id}") == "pw-1"
    manager.delete(other_profile.id)
    assert keyring.get_password("pluma", f"image-connection:{other_profile.id}") is None
    with pytest.raises(NoImageConnection):
        manager.provider()


def test_validation_messages(tmp_path: Path, secrets: KeyringSecretStore) -> None:
    manager = ImageConnectionManager(tmp_path, secrets)
    with pytest.raises(ProfileInvalid, match="kind"):
        manager.create(name="x", kind="dalle", base_url="http://h")
    with pytest.raises(ProfileInvalid, match="base_url"):
        manager.create(name="x", base_url="ftp://h")
    with pytest.raises(ProfileInvalid, match="credentials"):
        manager.create(name="x", base_url="http://u:p@h")
    with pytest.raises(ProfileInvalid, match="only ComfyUI"):
        manager.create(name="x", kind="a1111", base_url="http://h", workflow=default_workflow())
    with pytest.raises(ProfileInvalid, match="Export \\(API\\)"):
        manager.create(name="x", kind="comfyui", base_url="http://h", workflow={"nodes": []})
    with pytest.raises(ProfileInvalid, match="not valid JSON"):
        manager.create(name="x", kind="comfyui", base_url="http://h", workflow="{nope")
    manager.create(name="A", base_url="http://h")
    with pytest.raises(ProfileInvalid, match="already exists"):
        manager.create(name="a", base_url="http://h2")
    with pytest.raises(UnknownProfile, match="image connection"):
        manager.lookup("missing")
    assert not (tmp_path / "image_connections.json").read_text().count('"x"')


async def test_fallback(tmp_path: Path, secrets: KeyringSecretStore) -> None:
    fallback = image_fallback_profile("http://bob:pw@127.0.0.1:7860/", "a1111")
    assert fallback is not None
    assert (fallback.base_url, fallback.auth, fallback.username, fallback.secret) == (
        "http://127.0.0.1:7860",
        "basic",
        "bob",
        "pw",
    )
    manager = ImageConnectionManager(tmp_path, secrets, fallback=fallback)
    active = manager.active()
    assert active is not None and manager.is_fallback(active) and active.secret is None
    masked, _ = manager.provider()
    assert isinstance(masked, MaskedImageProvider)
    provider = masked.inner
    assert isinstance(provider, A1111Provider)
    assert provider.http.headers["Authorization"].startswith("Basic ")
    with pytest.raises(ProfileReadOnly):
        manager.update(active.id, name="x")
    created = manager.create(name="Real", base_url="http://127.0.0.1:7861")
    assert manager.active_id == created.id  # a profile takes over from the fallback


def test_a_file_broken_behind_our_back_loses_no_profile(
    tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = ImageConnectionManager(tmp_path, secrets)
    manager.create(name="A", base_url="http://127.0.0.1:7860")
    manager.create(name="B", kind="comfyui", base_url="http://127.0.0.1:8188")
    (tmp_path / "image_connections.json").write_text('{"version": 1, "connec')  # torn
    manager.create(name="C", base_url="http://127.0.0.1:7861")
    assert [p.name for p in manager.list()] == ["A", "B", "C"]
    stored = json.loads((tmp_path / "image_connections.json").read_text())
    assert [c["name"] for c in stored["connections"]] == ["A", "B", "C"]
    kept = list(tmp_path.glob("image_connections.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"version": 1, "connec'
    assert any("could not be read" in problem for problem in manager.problems)


def test_temp_files_of_a_dead_writer_are_swept(tmp_path: Path, secrets: KeyringSecretStore) -> None:
    ImageConnectionManager(tmp_path, secrets).create(name="A", base_url="http://h")
    leftover = tmp_path / ".image_connections.json.x1y2.tmp"
    leftover.write_text('{"half": ')
    manager = ImageConnectionManager(tmp_path, secrets)
    assert not leftover.exists()
    assert [p.name for p in manager.list()] == ["A"] and manager.problems == []
