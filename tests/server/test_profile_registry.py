"""The rules ProfileRegistry gives both connection managers, checked on each
(chat and image) so the two cannot drift apart again."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pluma.server.images  # noqa: F401  (registers the built-in image providers)
from pluma.server.images.manager import (
    ImageConnectionManager,
    ImageNameTaken,
    ImageProfileNotFound,
    ImageReadOnlyProfile,
    image_fallback_profile,
)
from pluma.server.profiles.connections import (
    ConnectionManager,
    NameTaken,
    ProfileInvalid,
    ProfileNotFound,
    ReadOnlyProfile,
    fallback_profile,
    load_providers,
)
from pluma.server.profiles.registry import UnknownProfile
from pluma.server.storage.secrets import (
    KeyringSecretStore,
    MemoryKeyring,
    SecretStore,
    connection_secret,
    image_connection_secret,
)

load_providers()


@dataclass
class Kind:
    """How to drive one manager through the shared rules."""

    label: str
    file_name: str
    secret_field: str
    """The profile attribute (and ``create``/``update`` argument) of the secret."""
    make: Callable[[Path, SecretStore, bool], Any]
    """(data dir, secrets, with a fallback?) -> manager (a ProfileRegistry
    subclass; typed Any because ``create``/``update`` are each manager's own)."""
    base_url: str
    secret_name: Callable[[str], str]
    not_found: type[Exception]
    name_taken: type[Exception]
    read_only: type[Exception]


def _chat(data_dir: Path, secrets: SecretStore, fallback: bool) -> ConnectionManager:
    return ConnectionManager(
        data_dir,
        secrets,
        fallback=fallback_profile("http://127.0.0.1:9/v1") if fallback else None,
        fallback_key="boot-key" if fallback else None,
    )


def _image(data_dir: Path, secrets: SecretStore, fallback: bool) -> ImageConnectionManager:
    return ImageConnectionManager(
        data_dir,
        secrets,
        fallback=image_fallback_profile("http://u:boot-key@127.0.0.1:9") if fallback else None,
    )


KINDS = [
    Kind(
        "chat",
        "connections.json",
        "api_key",
        _chat,
        "http://127.0.0.1:11434/v1",
        connection_secret,
        ProfileNotFound,
        NameTaken,
        ReadOnlyProfile,
    ),
    Kind(
        "image",
        "image_connections.json",
        "secret",
        _image,
        "http://127.0.0.1:7860",
        image_connection_secret,
        ImageProfileNotFound,
        ImageNameTaken,
        ImageReadOnlyProfile,
    ),
]


@pytest.fixture(params=KINDS, ids=[k.label for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    param: Kind = request.param
    return param


@pytest.fixture
def secrets() -> KeyringSecretStore:
    return KeyringSecretStore(MemoryKeyring())


def _create(manager: Any, kind: Kind, name: str, **more: Any) -> Any:
    return manager.create(name=name, base_url=kind.base_url, **more)


def test_names_are_unique_in_any_case_and_errors_are_the_kinds_own(
    kind: Kind, tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = kind.make(tmp_path, secrets, False)
    first = _create(manager, kind, "Local")
    with pytest.raises(kind.name_taken, match="already exists"):
        _create(manager, kind, "LOCAL")
    second = _create(manager, kind, "Other")
    with pytest.raises(kind.name_taken):
        manager.update(second.id, name="local")
    manager.update(first.id, name="LOCAL")
    assert [p.name for p in manager.list()] == ["LOCAL", "Other"]
    with pytest.raises(kind.not_found) as caught:
        manager.lookup("nope")
    # Both kinds' not-found is the registry's UnknownProfile (a 404), and
    # an image error is not a chat-connection error.
    assert isinstance(caught.value, UnknownProfile) and "'nope'" in str(caught.value)
    assert caught.value.status == 404 and caught.value.kind == "not_found_error"
    assert isinstance(caught.value, ProfileNotFound) == (kind.label == "chat")


def test_handed_out_profiles_are_copies(
    kind: Kind, tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = kind.make(tmp_path, secrets, False)
    created = _create(manager, kind, "A", **{kind.secret_field: "s3cret"})
    for handed_out in (manager.list()[0], manager.get(created.id), manager.lookup("a")):
        setattr(handed_out, kind.secret_field, "changed")
        handed_out.name = "changed"
    view = manager.get(created.id)
    assert view.name == "A" and getattr(view, kind.secret_field) is None
    assert getattr(manager.resolve(view), kind.secret_field) == "s3cret"


def test_a_pasted_secret_loses_its_newline_and_a_line_break_inside_is_refused(
    kind: Kind, tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = kind.make(tmp_path, secrets, False)
    profile = _create(manager, kind, "A", **{kind.secret_field: "  tok-123\n"})
    assert getattr(manager.resolve(profile), kind.secret_field) == "tok-123"
    with pytest.raises(ProfileInvalid) as caught:
        manager.update(profile.id, **{kind.secret_field: "tok\n123"})
    assert caught.value.field == kind.secret_field
    assert "tok" not in str(caught.value)  # the secret is not echoed
    assert getattr(manager.resolve(profile), kind.secret_field) == "tok-123"
    stored = (tmp_path / kind.file_name).read_text()
    assert "tok-123" not in stored


def test_the_fallback_serves_only_while_no_profile_exists_and_is_read_only(
    kind: Kind, tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = kind.make(tmp_path, secrets, True)
    fallback = manager.active()
    assert fallback is not None and manager.is_fallback(fallback)
    assert getattr(fallback, kind.secret_field) is None  # not handed out ...
    assert getattr(manager.resolve(fallback), kind.secret_field) == "boot-key"  # ... only resolved
    assert manager.lookup("DEFAULT").id == fallback.id == manager.lookup(fallback.id).id
    with pytest.raises(kind.read_only):
        manager.update(fallback.id, name="x")
    with pytest.raises(kind.read_only):
        manager.delete(fallback.id)

    created = _create(manager, kind, "Mine")
    assert manager.active_id == created.id
    with pytest.raises(kind.not_found):
        manager.get(fallback.id)
    manager.delete(created.id)
    assert manager.active_id == fallback.id


def test_a_malformed_entry_is_skipped_and_reported_once(
    kind: Kind, tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = kind.make(tmp_path, secrets, False)
    good = _create(manager, kind, "Good")
    path = tmp_path / kind.file_name
    doc = json.loads(path.read_text())
    doc["connections"].append({"name": "no id"})
    path.write_text(json.dumps(doc))
    other = kind.make(tmp_path, secrets, False)
    assert [p.id for p in other.list()] == [good.id]
    # A write re-reads the file (the bad entry is still in it): not said twice.
    _create(other, kind, "Next")
    assert [p.name for p in other.list()] == ["Good", "Next"]
    assert len([p for p in other.problems if "#1 is malformed" in p]) == 1


def test_delete_moves_the_active_choice_and_removes_the_secret(
    kind: Kind, tmp_path: Path, secrets: KeyringSecretStore
) -> None:
    manager = kind.make(tmp_path, secrets, False)
    first = _create(manager, kind, "A", **{kind.secret_field: "one"})
    assert secrets.get(kind.secret_name(first.id)) == "one"
    second = _create(manager, kind, "B")
    manager.activate(second.id)
    assert manager.active_id == second.id
    manager.delete(second.id)
    assert manager.active_id == first.id
    manager.delete(first.id)
    assert manager.active() is None and manager.list() == []
    with pytest.raises(kind.not_found):
        manager.activate(first.id)
    assert secrets.get(kind.secret_name(first.id)) is None
