"""Secret store selection: a usable keyring, the announced 0600 file fallback,
the in-memory keyring for tests (also selectable by environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer, fail, null

from pluma.llm.redact import mask
from pluma.server.profiles.connections import ConnectionManager
from pluma.server.storage.documents import StoreError
from pluma.server.storage.secrets import (
    KEYRING_CACHE_SECONDS,
    SERVICE,
    FileSecretStore,
    KeyringSecretStore,
    MemoryKeyring,
    SecretStoreError,
    connection_secret,
    open_secret_store,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def restore_keyring():  # type: ignore[no-untyped-def]
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


def test_memory_keyring_round_trip() -> None:
    store = KeyringSecretStore(MemoryKeyring())
    name = connection_secret("memtest-1")
    assert store.get(name) is None
    store.set(name, "sk-one")
    assert store.get(name) == "sk-one" and store.has(name)
    assert KeyringSecretStore(MemoryKeyring()).get(name) == "sk-one"  # one keyring per process
    store.delete(name)
    store.delete(name)  # deleting twice is fine
    assert store.get(name) is None
    with pytest.raises(SecretStoreError, match="empty"):
        store.set(name, "")


def test_memory_mode(tmp_path: Path) -> None:
    store = open_secret_store("memory", tmp_path)
    assert "MemoryKeyring" in store.backend and not store.is_fallback and store.notice is None


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), chainer.ChainerBackend()])
def test_auto_falls_back_to_an_announced_0600_file(
    tmp_path: Path,
    restore_keyring: None,
    backend: keyring.backend.KeyringBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if isinstance(backend, chainer.ChainerBackend):
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    keyring.set_keyring(backend)
    store = open_secret_store("auto", tmp_path)
    assert isinstance(store, FileSecretStore) and store.is_fallback
    assert store.notice is not None and str(tmp_path / "secrets.json") in store.notice
    assert "0600" in store.notice
    store.set(connection_secret("p1"), "sk-file-secret")
    path = tmp_path / "secrets.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {
        "service": SERVICE,
        "secrets": {"connection:p1": "sk-file-secret"},
    }
    assert open_secret_store("auto", tmp_path).get(connection_secret("p1")) == "sk-file-secret"
    store.delete(connection_secret("p1"))
    assert store.get(connection_secret("p1")) is None
    assert store.describe()["fallback"] is True


def test_keyring_mode_refuses_an_unusable_keyring(tmp_path: Path, restore_keyring: None) -> None:
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(SecretStoreError, match="--secrets file"):
        open_secret_store("keyring", tmp_path)


class BrokenKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


def test_a_backend_that_fails_when_probed_counts_as_unusable(
    tmp_path: Path, restore_keyring: None
) -> None:
    keyring.set_keyring(BrokenKeyring())
    store = open_secret_store("auto", tmp_path)
    assert isinstance(store, FileSecretStore)
    assert "does not work" in (store.notice or "")


def test_keyring_errors_name_the_secret_not_its_value() -> None:
    store = KeyringSecretStore(BrokenKeyring())
    with pytest.raises(SecretStoreError) as caught:
        store.set("connection:x", "sk-do-not-show")
    assert "connection:x" in str(caught.value) and "sk-do-not-show" not in str(caught.value)


def test_file_mode_is_explicit(tmp_path: Path) -> None:
    store = open_secret_store("file", tmp_path)
    assert isinstance(store, FileSecretStore)
    assert "--secrets file" in (store.notice or "")


def test_corrupt_secret_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("{oops")
    store = FileSecretStore(path)
    with pytest.raises(SecretStoreError, match="unreadable"):
        store.set("connection:a", "sk-x")
    assert path.read_text() == "{oops"


def test_environment_selects_the_memory_keyring_in_a_subprocess(tmp_path: Path) -> None:
    code = (
        "from pluma.server.storage.secrets import open_secret_store; import sys, pathlib; "
        "s = open_secret_store('auto', pathlib.Path(sys.argv[1])); print(s.backend, s.is_fallback)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "PYTHON_KEYRING_BACKEND": "pluma.server.storage.secrets.MemoryKeyring",
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "keyring (pluma.server.storage.secrets.MemoryKeyring) False"


def test_log_redactor_hides_every_secret_the_store_handled(tmp_path: Path) -> None:
    import io
    import logging

    from pluma.server.storage.secrets import redactor

    store = FileSecretStore(tmp_path / "secrets.json")
    store.set("connection:r", "sk-redact-me-42")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(redactor)
    logger = logging.getLogger("pluma.test.redactor")
    logger.addHandler(handler)
    try:
        logger.error("upstream said: bad key %s (len %d)", "sk-redact-me-42", 15)
    finally:
        logger.removeHandler(handler)
    # The same masking rule as every error message (pluma.llm.redact.mask).
    assert out.getvalue() == mask(
        "upstream said: bad key sk-redact-me-42 (len 15)\n", ["sk-redact-me-42"]
    )
    assert "sk-redact-me-42" not in out.getvalue() and "sk-…***" in out.getvalue()


def test_memory_keyring_is_never_chosen_automatically(tmp_path: Path) -> None:
    """On a machine without a keyring, importing Pluma must not make keyring
    pick the in-memory backend (keys would vanish at exit): auto mode must
    land on the announced file."""
    code = (
        "import sys, pathlib, keyring; from pluma.server.storage.secrets import open_secret_store; "
        "import keyring.core; keyring.core.init_backend(); "
        "print(type(keyring.get_keyring()).__name__); "
        "print(open_secret_store('auto', pathlib.Path(sys.argv[1])).is_fallback)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    env["PYTHONPATH"] = SRC
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    chosen, fallback = out.stdout.split()
    assert chosen != "MemoryKeyring"
    if chosen == "Keyring":  # keyring's "fail" backend: this machine has none
        assert fallback == "True"


class CountingKeyring(MemoryKeyring):
    """The OS keyring of these tests: one store shared by every "process"
    (every KeyringSecretStore over it), counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.reads = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.reads += 1
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


def test_keyring_reads_are_cached_and_writes_update_the_cache() -> None:
    backend = CountingKeyring()
    store = KeyringSecretStore(backend)
    name = connection_secret("cache-1")
    store.set(name, "sk-first-key")
    assert store.get(name) == "sk-first-key"
    assert store.get(name) == "sk-first-key"
    assert backend.reads == 1
    store.set(name, "sk-second-key")
    assert store.get(name) == "sk-second-key"
    store.delete(name)
    assert store.get(name) is None
    assert store.get(name) is None
    assert backend.reads == 3


def test_a_key_changed_outside_pluma_is_read_again_after_a_while() -> None:
    backend = CountingKeyring()
    now = [0.0]
    store = KeyringSecretStore(backend, clock=lambda: now[0])
    name = connection_secret("cache-2")
    store.set(name, "sk-first-key")
    assert store.get(name) == "sk-first-key"
    backend.values[(SERVICE, name)] = "sk-changed-elsewhere"  # e.g. `keyring set`
    now[0] += KEYRING_CACHE_SECONDS - 1
    assert store.get(name) == "sk-first-key"
    now[0] += 2
    assert store.get(name) == "sk-changed-elsewhere"


def test_a_key_set_by_another_process_is_used_at_once(tmp_path: Path) -> None:
    """Two managers over one data dir and one keyring, each with its own
    cache, as the server and `pluma keys set` are."""
    backend = CountingKeyring()
    server = ConnectionManager(tmp_path, KeyringSecretStore(backend))
    cli = ConnectionManager(tmp_path, KeyringSecretStore(backend))
    profile = server.create(name="acme", base_url="https://api.acme.test/v1", api_key="sk-old-key1")
    assert server.resolve(profile).api_key == "sk-old-key1"
    assert server.resolve(profile).api_key == "sk-old-key1"
    reads = backend.reads
    assert reads <= 1

    cli.set_key(profile.id, "sk-new-key22")
    assert json.loads((tmp_path / "connections.json").read_text())["keys_changed"] == 1
    assert server.resolve(server.active() or profile).api_key == "sk-new-key22"

    cli.set_key(profile.id, None)
    assert server.resolve(server.active() or profile).api_key is None


def test_a_key_is_kept_when_the_change_cannot_be_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    backend = CountingKeyring()
    cm = ConnectionManager(tmp_path, KeyringSecretStore(backend))
    profile = cm.create(name="acme", base_url="https://api.acme.test/v1")

    def full_disk(change: object) -> None:
        raise StoreError(f"cannot write {tmp_path / 'connections.json'}: No space left on device")

    monkeypatch.setattr(cm.store, "update", full_disk)
    cm.set_key(profile.id, "sk-new-key22")
    assert backend.values[(SERVICE, connection_secret(profile.id))] == "sk-new-key22"
    assert "No space left on device" in caplog.text
    assert "may use the previous key for up to 30 s" in caplog.text
    assert "sk-new-key22" not in caplog.text


_STUCK_WRITER = """
import os, sys, time, pathlib
from pluma.server.storage.secrets import FileSecretStore
store = FileSecretStore(pathlib.Path(sys.argv[1]))
def stuck(src, dst):
    print("temp file written", flush=True)
    time.sleep(600)
os.replace = stuck
store.set("connection:b", "sk-doomed-key-77777777")
"""


def _files_holding(directory: Path, text: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file() and text in p.read_text())


def test_temp_files_of_a_killed_writer_are_swept_and_replaced_keys_do_not_linger(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secrets.json"
    FileSecretStore(path).set("connection:a", "sk-old-key-0123456789")
    # A real writer killed between writing its temp file and renaming it.
    writer = subprocess.Popen(
        [sys.executable, "-c", _STUCK_WRITER, str(path)],
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "temp file written"
    writer.kill()
    writer.wait()
    assert _files_holding(tmp_path, "sk-doomed-key") != []  # left behind, with both keys
    assert len(_files_holding(tmp_path, "sk-old-key")) == 2

    # Start-up (opening the store) sweeps it.
    store = FileSecretStore(path)
    assert _files_holding(tmp_path, "sk-doomed-key") == []
    # A replaced key is gone from every file once the write returns, even
    # when a writer died meanwhile.
    stuck = subprocess.Popen(
        [sys.executable, "-c", _STUCK_WRITER, str(path)],
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stuck.stdout is not None
    assert stuck.stdout.readline().strip() == "temp file written"
    stuck.kill()
    stuck.wait()
    store.set("connection:a", "sk-new-key-9876543210")
    assert _files_holding(tmp_path, "sk-old-key") == []
    assert _files_holding(tmp_path, "sk-doomed-key") == []
    assert _files_holding(tmp_path, "sk-new-key") == ["secrets.json"]
