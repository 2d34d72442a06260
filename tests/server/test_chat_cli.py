"""``pluma chat "prompt"`` as a real subprocess against local upstreams:
answer on stdout as it streams, reasoning dimmed on stderr, the connection
picked by name or by model prefix, failures as one line and exit code 1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.chat_env import write_connections
from tests.support.server_process import run_cli
from tests.support.upstreams import AnthropicUpstream, OpenAIUpstream, Script


@pytest.fixture(scope="module")
def upstreams(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, OpenAIUpstream, AnthropicUpstream]]:
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    with OpenAIUpstream() as oa, AnthropicUpstream() as an:
        write_connections(data_dir, {"oa": oa.base_url, "an": an.base_url, "ln": oa.base_url})
        yield data_dir, oa, an


def test_chat_streams_answer_to_stdout_and_reasoning_dimmed_to_stderr(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream],
) -> None:
    data_dir, _, an = upstreams
    an.reset(Script(text="The answer is 42.", thinking="Counting carefully."))
    result = run_cli(
        ["chat", "What is the answer?", "--connection", "an", "--system", "Be terse."],
        data_dir=data_dir,
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer is 42.\n"
    assert "\x1b[2m" in result.stderr  # dim
    assert re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).strip() == "Counting carefully."
    sent = an.requests[-1].json()
    assert sent["model"] == "claude-test-1"
    assert "Be terse." in str(sent["system"])


def test_chat_model_prefix_picks_the_connection(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream],
) -> None:
    data_dir, oa, _ = upstreams
    oa.reset(Script(text="from oa"))
    result = run_cli(["chat", "hi", "--model", "oa/meta-llama/Llama-3-8B"], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from oa\n"
    assert oa.requests[-1].json()["model"] == "meta-llama/Llama-3-8B"


def test_chat_failure_is_one_line_and_exit_1(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream],
) -> None:
    data_dir, oa, _ = upstreams
    oa.reset(Script(status=401, error_message="bad key upstream"))
    result = run_cli(["chat", "hi", "--connection", "oa"], data_dir=data_dir)
    assert result.returncode == 1
    assert "bad key upstream" in result.stderr
    assert "pluma keys set oa" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_without_a_key_says_how_to_set_one(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream],
) -> None:
    data_dir, _, _ = upstreams
    result = run_cli(["chat", "hi", "--connection", "remote"], data_dir=data_dir)
    assert result.returncode == 1
    assert "pluma keys set remote" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("kind", "limit"), [("oa", "50"), ("an", None)])
def test_chat_says_when_the_answer_was_cut_at_the_token_limit(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream], kind: str, limit: str | None
) -> None:
    """``finish_reason: length`` / ``stop_reason: max_tokens``: the text that
    came is printed, a note says it was cut and the exit status is 3."""
    data_dir, oa, an = upstreams
    upstream = oa if kind == "oa" else an
    upstream.reset(Script(text="One, two, three", stop="length"))
    args = ["chat", "count", "--connection", kind, *(["--max-tokens", limit] if limit else [])]
    result = run_cli(args, data_dir=data_dir)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "One, two, three\n"
    assert "pluma: the answer was cut" in result.stderr
    assert "--max-tokens" in result.stderr
    if limit:
        assert f"limit of {limit} tokens" in result.stderr


def test_chat_says_a_filtered_answer_is_incomplete(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream],
) -> None:
    data_dir, oa, _ = upstreams
    oa.reset(Script(text="Here is how to", stop="content_filter"))
    result = run_cli(["chat", "hi", "--connection", "oa"], data_dir=data_dir)
    assert result.returncode == 1
    assert result.stdout == "Here is how to\n"
    assert "the answer above is incomplete" in result.stderr
    assert "content filter" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_refuses_a_model_prefix_that_names_no_connection(
    upstreams: tuple[Path, OpenAIUpstream, AnthropicUpstream],
) -> None:
    """``-m Nope/gpt-4o-mini`` is not silently answered by the active
    connection: the names of the connections are listed instead."""
    data_dir, oa, _ = upstreams
    oa.reset(Script(text="should not be asked"))
    result = run_cli(["chat", "hi", "-m", "Nope/gpt-4o-mini"], data_dir=data_dir)
    assert result.returncode == 1
    assert "no connection is named 'Nope'" in result.stderr
    assert "connections: oa, an, ln, remote" in result.stderr
    assert not any(r.path.endswith("/chat/completions") for r in oa.requests)
