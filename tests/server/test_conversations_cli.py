"""``pluma conversations search|export|import`` as a user runs them
(subprocesses on real data dirs)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.server_process import run_cli

from pluma import llm
from pluma.server.storage.conversations import ConversationStore


def _seed(data: Path) -> str:
    store = ConversationStore.open(data)
    c = store.create(title="Shell trip", system_prompt="Be brief.", model="m")
    store.add_message(c.id, llm.UserMessage("How far is the harbour?"))
    store.add_message(
        c.id,
        llm.AssistantMessage(
            content=[llm.ThinkingContent("map", signature="s1"), llm.TextContent("Two miles.")]
        ),
    )
    store.close()
    return c.id


def test_export_then_import_into_another_data_dir(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    cid = _seed(source)
    out = tmp_path / "all.json"
    done = run_cli(["conversations", "export", "-o", str(out)], data_dir=source)
    assert done.returncode == 0, done.stderr
    assert "exported 1 conversation(s)" in done.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == "pluma.conversations" and doc["conversations"][0]["id"] == cid

    done = run_cli(["conversations", "import", str(out)], data_dir=target)
    assert done.returncode == 0, done.stderr
    new_id = done.stdout.split()[0]
    assert new_id != cid and "imported 1 conversation(s)" in done.stderr
    store = ConversationStore.open(target)
    try:
        copy = store.get(new_id)
        assert copy.summary.title == "Shell trip" and copy.summary.system_prompt == "Be brief."
        expected = [e["message"] for e in doc["conversations"][0]["messages"]]
        assert [llm.message_to_dict(m) for m in copy.messages] == expected
    finally:
        store.close()

    done = run_cli(["conversations", "search", "harb"], data_dir=target)
    assert done.returncode == 0 and new_id in done.stdout and "[harbour]" in done.stdout

    done = run_cli(["conversations", "export", cid, "--format", "markdown"], data_dir=source)
    assert done.returncode == 0 and done.stdout.startswith("# Shell trip\n")
    assert "## User\n\nHow far is the harbour?" in done.stdout


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _seed(data)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"format": "pluma.conversations", "version": 1, "conversations": [{"title": 3}]})
    )
    done = run_cli(["conversations", "import", str(bad)], data_dir=data)
    assert done.returncode == 1 and "conversations[0].title must be a string" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "notjson.json").write_text("nope")
    done = run_cli(["conversations", "import", str(tmp_path / "notjson.json")], data_dir=data)
    assert done.returncode == 1 and "is not JSON" in done.stderr
    done = run_cli(["conversations", "export", "missing"], data_dir=data)
    assert done.returncode == 1 and "no conversation with id 'missing'" in done.stderr
    done = run_cli(["conversations", "export", "--format", "pdf"], data_dir=data)
    assert done.returncode == 2 and "json or markdown" in done.stderr
    done = run_cli(["conversations", "search", "x" * 600], data_dir=data)
    assert done.returncode == 1 and "at most 500" in done.stderr
