"""The JSON document store under crashes, corruption and concurrent writers
(real child processes, real SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pluma.server.storage.documents import CorruptStoreError, JsonStore, StoreProblem

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_missing_file_reads_as_default_and_update_creates_it(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "doc.json")
    assert store.read() == {}
    assert store.update(lambda doc: doc.setdefault("n", 1)) == 1
    assert json.loads((tmp_path / "doc.json").read_text()) == {"n": 1}


def test_update_that_raises_writes_nothing(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "doc.json")
    store.write({"keep": True})

    def broken(doc: dict[str, object]) -> None:
        doc["keep"] = False
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.update(broken)
    assert store.read() == {"keep": True}


def test_mode_is_applied_to_every_version(tmp_path: Path) -> None:
    store = JsonStore(tmp_path / "secret.json", mode=0o600)
    store.write({"a": 1})
    assert (tmp_path / "secret.json").stat().st_mode & 0o777 == 0o600
    store.update(lambda doc: doc.update(b=2))
    assert (tmp_path / "secret.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object, found array"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_corrupt_file_is_kept_aside_not_overwritten(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    store = JsonStore(path)
    with pytest.raises(CorruptStoreError, match=reason):
        store.read()
    with pytest.raises(CorruptStoreError):
        store.update(lambda doc: doc.update(x=1))
    assert path.read_bytes() == content  # update refused to replace it

    doc, problem = store.recover()
    assert doc == {}
    assert isinstance(problem, StoreProblem)
    assert reason in problem.reason
    assert problem.kept_at is not None and problem.kept_at.name.startswith("doc.json.corrupt-")
    assert problem.kept_at.read_bytes() == content
    assert str(path) in problem.describe() and str(problem.kept_at) in problem.describe()
    assert not path.exists()
    store.update(lambda d: d.update(x=1))
    assert store.read() == {"x": 1}
    assert problem.kept_at.read_bytes() == content


# The child slows every file ``write`` call by 20 ms once it is writing, so a
# kill lands inside a write most of the time: a writer that wrote the document
# in place would leave it empty or torn here (checked: 7 of 8 kills tore an
# in-place writer's file). Only the temp-file-and-rename scheme survives.
WRITER = """
import sys, time
from pathlib import Path
from pluma.server.storage.documents import JsonStore

def slow_writes(frame, event, arg):
    if event == "c_call" and getattr(arg, "__name__", "") in ("write", "writelines"):
        time.sleep(0.02)

store = JsonStore(Path(sys.argv[1]))
i = 0
while True:
    i += 1
    store.write({"version": i, "items": [{"n": i, "pad": "x" * 1000} for _ in range(1000)]})
    if i == 1:
        print("writing", flush=True)
        sys.setprofile(slow_writes)
"""


def test_kill_9_mid_write_never_leaves_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    versions = []
    for delay in (0.0, 0.011, 0.023, 0.037, 0.051, 0.079):
        child = _child(WRITER, str(path))
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing", (
            child.stderr.read() if child.stderr else ""
        )
        time.sleep(delay)  # varied kill moments (a deliberate spread, not a wait for an event)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert child.returncode == -signal.SIGKILL
        doc = JsonStore(path).read()  # raises if the file were torn
        assert len(doc["items"]) == 1000 and all(
            item["n"] == doc["version"] for item in doc["items"]
        )
        versions.append(doc["version"])
    assert all(v >= 1 for v in versions)
    leftovers = list(tmp_path.glob(".connections.json.*.tmp"))
    assert JsonStore(path).sweep() == len(leftovers)
    assert not list(tmp_path.glob(".connections.json.*.tmp"))
    assert JsonStore(path).read()["version"] == versions[-1]


CREATOR = """
import sys
from pathlib import Path
from pluma.server.profiles.connections import ConnectionManager, load_providers
from pluma.server.storage.secrets import FileSecretStore
load_providers()
data, prefix, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cm = ConnectionManager(data, FileSecretStore(data / "secrets.json"))
print("ready", flush=True)
sys.stdin.readline()  # both start together
for i in range(count):
    cm.create(name=f"{prefix}-{i}", base_url=f"http://127.0.0.1:{1000 + i}/v1", api_key=f"k-{prefix}-{i}")
print("done", flush=True)
"""


def test_two_processes_adding_profiles_concurrently_lose_nothing(tmp_path: Path) -> None:
    count = 40
    children = []
    for prefix in ("a", "b"):
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CREATOR), str(tmp_path), prefix, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": SRC},
        )
        children.append(child)
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err

    doc = json.loads((tmp_path / "connections.json").read_text())
    names = sorted(c["name"] for c in doc["connections"])
    assert names == sorted(f"{p}-{i}" for p in "ab" for i in range(count))
    assert len({c["id"] for c in doc["connections"]}) == 2 * count
    secrets = json.loads((tmp_path / "secrets.json").read_text())["secrets"]
    assert len(secrets) == 2 * count
    assert "k-a-0" not in (tmp_path / "connections.json").read_text()
