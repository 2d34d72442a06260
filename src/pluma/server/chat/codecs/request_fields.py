"""Every documented request field of the two client protocols, and its fate per
upstream protocol: the one table the decoders, the docs and the tests share.

A field is *sent* (mapped to the neutral vocabulary and out again under the
upstream's name), *passed* (not modelled: forwarded verbatim to an upstream of
the client's own protocol, refused with a 400 naming it by any other),
*refused* (a 400 saying why) or handled at the *edge* (it shapes Pluma's own
answer). Nothing is dropped. Members not listed here (vendor extensions, API
features newer than this table) are treated as *passed*.

``docs/sdk-clients.md`` holds :func:`render_markdown`'s output between markers;
``tests/server/test_request_fields.py`` checks that it is current and that
every field of the official SDKs' own request types is listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OPENAI = "openai-completions"
ANTHROPIC = "anthropic-messages"
UPSTREAMS = (OPENAI, ANTHROPIC)


@dataclass(frozen=True, slots=True)
class Fate:
    kind: Literal["sent", "passed", "refused", "edge"]
    wire: str = ""
    """For ``sent``: the upstream member it becomes."""
    note: str = ""

    def describe(self) -> str:
        if self.kind == "sent":
            text = f"sent as `{self.wire}`"
            return f"{text} ({self.note})" if self.note else text
        elif self.kind == "passed":
            text = "passed through verbatim"
        elif self.kind == "refused":
            text = "400"
        else:
            text = "edge"
        return f"{text}: {self.note}" if self.note else text


def sent(wire: str, note: str = "") -> Fate:
    return Fate("sent", wire, note)


def refused(note: str) -> Fate:
    return Fate("refused", note=note)


def edge(note: str) -> Fate:
    return Fate("edge", note=note)


PASSED = Fate("passed")
CROSS = refused("not translated to another protocol")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    neutral: str
    """What Pluma makes of it ("" when not modelled)."""
    openai: Fate
    anthropic: Fate

    def fate(self, upstream: str) -> Fate:
        return self.openai if upstream == OPENAI else self.anthropic


def _passed(name: str, client: str) -> Field:
    """A field Pluma does not model: verbatim to its own protocol, 400 elsewhere."""
    if client == OPENAI:
        return Field(name, "", PASSED, CROSS)
    return Field(name, "", CROSS, PASSED)


_NO_ANTHROPIC = refused("the Messages API has no equivalent")

CHAT_COMPLETIONS: tuple[Field, ...] = (
    Field("model", "the model, after connection routing", sent("model"), sent("model")),
    Field(
        "messages",
        "`Context` (system/developer → system prompt)",
        sent("messages"),
        sent("messages", "system messages → `system`"),
    ),
    Field(
        "stream",
        "",
        edge("how Pluma answers; upstreams are always streamed"),
        edge("as for openai-completions"),
    ),
    Field(
        "stream_options",
        "",
        edge(
            "`include_usage` adds the usage chunk; `include_obfuscation: false` accepted, "
            "other members 400"
        ),
        edge("as for openai-completions"),
    ),
    Field("temperature", "`temperature`", sent("temperature"), sent("temperature")),
    Field(
        "max_completion_tokens",
        "`max_tokens`",
        sent("max_completion_tokens", "or `max_tokens`, per vendor"),
        sent("max_tokens"),
    ),
    Field(
        "max_tokens",
        "`max_tokens`",
        sent("max_completion_tokens", "or `max_tokens`, per vendor"),
        sent("max_tokens"),
    ),
    Field("n", "", edge("1 only; more choices → 400"), edge("1 only; more choices → 400")),
    Field("tools", "`Context.tools` (function tools)", sent("tools"), sent("tools")),
    Field("tool_choice", "tool choice", sent("tool_choice"), sent("tool_choice")),
    Field(
        "parallel_tool_calls",
        "`parallel_tool_calls`",
        sent("parallel_tool_calls"),
        sent("tool_choice", "false → `disable_parallel_tool_use`"),
    ),
    Field(
        "reasoning_effort",
        "`reasoning`",
        sent("reasoning_effort"),
        sent("thinking", "a budget per level"),
    ),
    Field("stop", "`stop`", sent("stop"), sent("stop_sequences")),
    Field("top_p", "`top_p`", sent("top_p"), sent("top_p")),
    Field(
        "top_k",
        "`top_k` (a common extension)",
        sent("top_k", "where the vendor has it"),
        sent("top_k"),
    ),
    Field("seed", "`seed`", sent("seed", "Mistral: `random_seed`"), _NO_ANTHROPIC),
    Field("presence_penalty", "`presence_penalty`", sent("presence_penalty"), _NO_ANTHROPIC),
    Field("frequency_penalty", "`frequency_penalty`", sent("frequency_penalty"), _NO_ANTHROPIC),
    Field(
        "response_format",
        "`response_format`",
        sent("response_format"),
        sent("tools", "emulated: a forced tool whose input is the JSON"),
    ),
    Field("user", "`user`", sent("user"), sent("metadata", "as `metadata.user_id`")),
    Field(
        "metadata",
        "`metadata`",
        sent("metadata"),
        refused("Anthropic's metadata holds only `user_id`: send `user`"),
    ),
    Field(
        "logprobs",
        "",
        edge("false accepted; true → 400 (Pluma's replies carry no log probabilities)"),
        edge("as for openai-completions"),
    ),
    Field(
        "top_logprobs",
        "",
        refused("Pluma's replies carry no log probabilities"),
        refused("Pluma's replies carry no log probabilities"),
    ),
    Field(
        "audio",
        "",
        refused("audio output cannot be relayed"),
        refused("audio output cannot be relayed"),
    ),
    Field(
        "modalities",
        "",
        edge('`["text"]` accepted; audio → 400'),
        edge('`["text"]` accepted; audio → 400'),
    ),
    Field(
        "functions", "", refused("deprecated: send `tools`"), refused("deprecated: send `tools`")
    ),
    Field(
        "function_call",
        "",
        refused("deprecated: send `tool_choice`"),
        refused("deprecated: send `tool_choice`"),
    ),
    *(
        _passed(name, OPENAI)
        for name in (
            "logit_bias",
            "moderation",
            "prediction",
            "prompt_cache_key",
            "prompt_cache_options",
            "prompt_cache_retention",
            "safety_identifier",
            "service_tier",
            "store",
            "verbosity",
            "web_search_options",
        )
    ),
)
"""``POST /v1/chat/completions`` (and the page's ``/api/chat``, which takes the same body)."""

MESSAGES: tuple[Field, ...] = (
    Field("model", "the model, after connection routing", sent("model"), sent("model")),
    Field("messages", "`Context.messages`", sent("messages"), sent("messages")),
    Field(
        "system", "`Context.system_prompt`", sent("messages", "a system message"), sent("system")
    ),
    Field(
        "max_tokens",
        "`max_tokens`",
        sent("max_completion_tokens", "or `max_tokens`, per vendor"),
        sent("max_tokens"),
    ),
    Field(
        "stream",
        "",
        edge("how Pluma answers; upstreams are always streamed"),
        edge("as for openai-completions"),
    ),
    Field("temperature", "`temperature`", sent("temperature"), sent("temperature")),
    Field("top_p", "`top_p`", sent("top_p"), sent("top_p")),
    Field("top_k", "`top_k`", sent("top_k", "where the vendor has it"), sent("top_k")),
    Field("stop_sequences", "`stop`", sent("stop"), sent("stop_sequences")),
    Field(
        "metadata",
        "`user` (from `user_id`)",
        sent("user"),
        sent("metadata", "as `metadata.user_id`; other members 400"),
    ),
    Field(
        "tools", "`Context.tools` (custom tools; server tools 400)", sent("tools"), sent("tools")
    ),
    Field(
        "tool_choice",
        "tool choice; `disable_parallel_tool_use` → `parallel_tool_calls: false`",
        sent("tool_choice"),
        sent("tool_choice"),
    ),
    Field(
        "thinking", "`reasoning` (a level per budget)", sent("reasoning_effort"), sent("thinking")
    ),
    Field(
        "output_config",
        "`format` → `response_format`; other members (`effort`) not modelled",
        sent("response_format", "other members 400"),
        sent("tools", "`format` emulated with a forced tool; other members passed verbatim"),
    ),
    *(
        _passed(name, ANTHROPIC)
        for name in (
            "cache_control",
            "container",
            "diagnostics",
            "inference_geo",
            "service_tier",
            "speed",
        )
    ),
    *(
        Field(
            name,
            "",
            refused(f"the `{header}` header is not translated"),
            Fate("passed", note=f"as the `{header}` header"),
        )
        for name, header in (
            ("user_profile_id", "anthropic-user-profile-id"),
            ("workspace_id", "anthropic-workspace-id"),
        )
    ),
)
"""``POST /v1/messages``."""

HEADER_FIELDS: dict[str, str] = {
    "user_profile_id": "anthropic-user-profile-id",
    "workspace_id": "anthropic-workspace-id",
}
"""SDK parameters that travel as request headers (the ``anthropic`` SDK sends
them so); the Messages route forwards them like unmodelled body members."""

PAGE_ONLY: tuple[tuple[str, str], ...] = (
    ("connection", "the connection (profile id or name) to use"),
    ("conversation_id", "the conversation the turn and its reply are saved to"),
    (
        "message",
        "instead of `messages`, with `conversation_id`: only the new turn (a user or "
        "toolResult message in Pluma's message JSON, or an array of them); the history "
        "is read from the conversation as stored",
    ),
    (
        "parent_id",
        "with `message`: the stored message the new turn follows (`null`: a new first "
        "message; left out: the conversation's current leaf). The history sent upstream "
        "is the path down to it, so editing an earlier message makes a new branch",
    ),
    (
        "regenerate",
        "instead of `message`, with `conversation_id`: the id of a stored user or "
        "toolResult message whose answer is made again, as a new version beside the "
        "earlier ones",
    ),
    ("system", "a system prompt put before the messages' own"),
    ("reasoning", "a reasoning level (`off`, `minimal` … `xhigh`)"),
)
"""``POST /api/chat``'s own members, on top of :data:`CHAT_COMPLETIONS`."""


def modelled(table: tuple[Field, ...], client: str) -> frozenset[str]:
    """The members a decoder reads itself; everything else goes to ``extra``."""
    return frozenset(f.name for f in table if f.fate(client).kind != "passed")


def render_markdown() -> str:
    """The tables of ``docs/sdk-clients.md`` (between its field-table markers)."""
    lines: list[str] = []
    for title, table in (
        (
            "`POST /v1/chat/completions` and `POST /api/chat` (OpenAI Chat Completions)",
            CHAT_COMPLETIONS,
        ),
        ("`POST /v1/messages` (Anthropic Messages)", MESSAGES),
    ):
        lines += [
            f"#### {title}",
            "",
            "| field | neutral | upstream openai-completions | upstream anthropic-messages |",
            "|---|---|---|---|",
        ]
        for f in table:
            lines.append(
                f"| `{f.name}` | {f.neutral or '—'} | {f.openai.describe()} | "
                f"{f.anthropic.describe()} |"
            )
        lines += [
            "| any other member | — | "
            + ("passed through verbatim" if table is CHAT_COMPLETIONS else CROSS.describe())
            + " | "
            + (CROSS.describe() if table is CHAT_COMPLETIONS else "passed through verbatim")
            + " |",
            "",
        ]
    lines += ["#### `POST /api/chat` only", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in PAGE_ONLY]
    return "\n".join(lines) + "\n"
