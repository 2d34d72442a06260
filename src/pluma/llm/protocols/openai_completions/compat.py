"""Vendor quirks of servers that speak OpenAI Chat Completions.

"OpenAI-compatible" servers agree on the shape of a chunk but differ in what
they accept in a request. Sending a field a server does not know is usually
ignored, but not always (some answer 400), so the request builder asks this
table instead of guessing. The vendor is detected from the base URL (host or
well-known local port) and the model's ``provider``; anything detected can be
overridden per model through ``Model.compat`` (a dict whose keys are the field
names of :class:`Compat`, e.g. ``{"max_tokens_field": "max_tokens"}``).

| vendor      | detected by                        | developer | max tokens field      | include_usage | reasoning param          | notes                                      |
|-------------|------------------------------------|-----------|-----------------------|---------------|--------------------------|--------------------------------------------|
| OpenAI      | api.openai.com, provider openai    | reasoning | max_completion_tokens | yes           | reasoning_effort (+min.) | no temperature on reasoning models;        |
|             |                                    |           |                       |               |                          | tool call ids of at most 40 characters     |
| Azure       | *.openai.azure.com, provider azure | reasoning | max_completion_tokens | yes           | reasoning_effort         | as OpenAI                                  |
| Ollama      | :11434, provider ollama            | no        | max_tokens            | yes           | none                     |                                            |
| LM Studio   | :1234, provider lmstudio           | no        | max_tokens            | yes           | none                     |                                            |
| llama.cpp   | :8080, provider llamacpp           | no        | max_tokens            | yes           | none                     | replays thinking as ``reasoning_content``  |
| vLLM        | :8000, provider vllm               | no        | max_tokens            | yes           | none                     |                                            |
| DeepSeek    | api.deepseek.com                   | no        | max_tokens            | yes           | none                     | reasoner: no temperature                   |
| OpenRouter  | openrouter.ai                      | no        | max_tokens            | yes           | ``reasoning: {effort}``  |                                            |
| Groq        | api.groq.com                       | no        | max_completion_tokens | yes           | reasoning_effort         |                                            |
| Mistral     | api.mistral.ai                     | no        | max_tokens            | no            | none                     | tool results need ``name``; an assistant   |
|             |                                    |           |                       |               |                          | turn must follow tool results before user; |
|             |                                    |           |                       |               |                          | tool call ids of 9 letters/digits          |
| xAI         | api.x.ai                           | no        | max_tokens            | yes           | reasoning_effort low/high|                                            |
| Cerebras    | api.cerebras.ai                    | no        | max_completion_tokens | yes           | none                     |                                            |
| Together    | api.together.xyz                   | no        | max_tokens            | yes           | none                     |                                            |
| Fireworks   | api.fireworks.ai                   | no        | max_tokens            | yes           | none                     |                                            |
| other       | anything else                      | no        | max_tokens            | yes           | none                     | the widest-accepted choices                |

Sampling and output controls (``StreamOptions.stop`` … ``parallel_tool_calls``)
go out under their Chat Completions names. Which ones a vendor lacks, per its
API reference (a vendor that ignores an unknown field would silently drop the
setting, one that validates strictly answers 400 — either way the call is
refused here first, naming the field and the vendor):

| vendor      | refused controls                                            | renamed            |
|-------------|-------------------------------------------------------------|--------------------|
| OpenAI      | top_k; reasoning models also temperature, top_p and the two |                    |
|             | penalties                                                   |                    |
| Azure       | as OpenAI                                                   |                    |
| Ollama      | top_k, user, metadata, parallel_tool_calls                  |                    |
| LM Studio   | user, metadata, response_format json_object                 |                    |
| llama.cpp   | user, metadata                                              |                    |
| DeepSeek    | top_k, seed, metadata, response_format json_schema;         |                    |
|             | deepseek-reasoner also temperature (ignored by it)          |                    |
| Groq        | top_k, metadata                                             |                    |
| Mistral     | top_k, user, metadata                                       | seed → random_seed |
| xAI         | top_k, metadata                                             |                    |
| Cerebras    | top_k, metadata                                             |                    |
| vLLM, OpenRouter, Together, Fireworks, other | none                       |                    |

``top_k`` is not an OpenAI field but a common extension (vLLM, llama.cpp, LM
Studio, OpenRouter, Together, Fireworks); it goes out as ``top_k``. Override a
row with ``Model.compat={"unsupported_controls": [...]}`` when an upstream
differs (entries are control names, or ``response_format.json_object`` /
``response_format.json_schema`` for one format type).

"developer: reasoning" means the system prompt goes out with role
``developer`` when the model is a reasoning model (``Model.reasoning``), as
OpenAI asks for its o-series and GPT-5 models; everywhere else it is
``system``. ``reasoning_effort`` is only ever sent for reasoning models.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pluma.llm.errors import ConfigurationError
from pluma.llm.handoff import short_hash
from pluma.llm.types import Model

MaxTokensField: TypeAlias = Literal["max_tokens", "max_completion_tokens"]
ReasoningParam: TypeAlias = Literal["reasoning_effort", "openrouter", "none"]
ToolCallIdFormat: TypeAlias = Literal["any", "alnum9"]


@dataclass(slots=True, frozen=True)
class Compat:
    """What one upstream accepts. Every field can be set through ``Model.compat``.

    * ``vendor`` — the detected vendor's name (informational).
    * ``supports_developer_role`` — send the system prompt as ``developer`` for
      reasoning models.
    * ``max_tokens_field`` — ``max_tokens`` or ``max_completion_tokens``.
    * ``supports_usage_in_streaming`` — send ``stream_options.include_usage``.
    * ``reasoning_param`` — how to ask for reasoning effort: ``reasoning_effort``
      (OpenAI style), ``openrouter`` (``reasoning: {"effort": …}``) or ``none``.
    * ``reasoning_effort_levels`` — the effort values the upstream accepts;
      a level it lacks is sent as the nearest one it has (``xhigh`` → ``high``,
      ``minimal`` → ``low`` where those are missing).
    * ``supports_temperature`` — False for models that reject ``temperature``
      (OpenAI reasoning models, DeepSeek's reasoner); the option is then
      refused with an :class:`UnsupportedControlError`, as ``top_p`` is.
    * ``reasoning_field`` — the assistant-message field in which earlier
      thinking is replayed (``reasoning_content`` / ``reasoning``), or None to
      drop thinking from the history.
    * ``requires_tool_result_name`` — tool messages carry the tool's ``name``.
    * ``requires_assistant_after_tool_result`` — a user message may not follow
      tool results directly; a short assistant turn is inserted between them.
    * ``tool_call_id_format`` — ``any``, or ``alnum9`` for upstreams that only
      accept ids of exactly nine letters and digits (Mistral). History from
      other providers is rewritten to fit, the same way in calls and results.
    * ``max_tool_call_id_length`` — longer ids are shortened (OpenAI: 40).
    * ``unsupported_controls`` — neutral controls the upstream lacks (refused
      with a :class:`ConfigurationError` naming the field and the vendor).
    * ``seed_field`` — the wire name of ``seed`` (Mistral: ``random_seed``).
    """

    vendor: str = "openai-compatible"
    supports_developer_role: bool = False
    max_tokens_field: MaxTokensField = "max_tokens"
    supports_usage_in_streaming: bool = True
    reasoning_param: ReasoningParam = "none"
    reasoning_effort_levels: tuple[str, ...] = ("low", "medium", "high")
    supports_temperature: bool = True
    reasoning_field: str | None = None
    requires_tool_result_name: bool = False
    requires_assistant_after_tool_result: bool = False
    tool_call_id_format: ToolCallIdFormat = "any"
    max_tool_call_id_length: int | None = None
    unsupported_controls: frozenset[str] = frozenset()
    seed_field: str = "seed"


_NO_TOP_K_OR_METADATA = frozenset({"top_k", "metadata"})
_REASONING_REFUSES = frozenset({"top_p", "presence_penalty", "frequency_penalty"})
_OPENAI = Compat(
    vendor="openai",
    supports_developer_role=True,
    max_tokens_field="max_completion_tokens",
    reasoning_param="reasoning_effort",
    reasoning_effort_levels=("minimal", "low", "medium", "high"),
    max_tool_call_id_length=40,
    unsupported_controls=frozenset({"top_k"}),
)

_OPENROUTER = Compat(
    vendor="openrouter",
    reasoning_param="openrouter",
    reasoning_effort_levels=("minimal", "low", "medium", "high"),
)
_GROQ = Compat(
    vendor="groq",
    max_tokens_field="max_completion_tokens",
    reasoning_param="reasoning_effort",
    unsupported_controls=_NO_TOP_K_OR_METADATA,
)
_MISTRAL = Compat(
    vendor="mistral",
    supports_usage_in_streaming=False,
    requires_tool_result_name=True,
    requires_assistant_after_tool_result=True,
    tool_call_id_format="alnum9",
    unsupported_controls=frozenset({"top_k", "user", "metadata"}),
    seed_field="random_seed",
)
_XAI = Compat(
    vendor="xai",
    reasoning_param="reasoning_effort",
    reasoning_effort_levels=("low", "high"),
    unsupported_controls=_NO_TOP_K_OR_METADATA,
)
_CEREBRAS = Compat(
    vendor="cerebras",
    max_tokens_field="max_completion_tokens",
    unsupported_controls=_NO_TOP_K_OR_METADATA,
)
_AZURE = dataclasses.replace(_OPENAI, vendor="azure")
_LLAMACPP = Compat(
    vendor="llamacpp",
    reasoning_field="reasoning_content",
    unsupported_controls=frozenset({"user", "metadata"}),
)
_OLLAMA = Compat(
    vendor="ollama",
    unsupported_controls=frozenset({"top_k", "user", "metadata", "parallel_tool_calls"}),
)
_LMSTUDIO = Compat(
    vendor="lmstudio",
    unsupported_controls=frozenset({"user", "metadata", "response_format.json_object"}),
)
_DEEPSEEK = Compat(
    vendor="deepseek",
    unsupported_controls=frozenset({"top_k", "seed", "metadata", "response_format.json_schema"}),
)

# host (exact, or a suffix when it starts with ".") → compat; first match wins.
_BY_HOST: tuple[tuple[str, Compat], ...] = (
    ("api.openai.com", _OPENAI),
    (".openai.azure.com", _AZURE),
    ("api.deepseek.com", _DEEPSEEK),
    ("openrouter.ai", _OPENROUTER),
    ("api.groq.com", _GROQ),
    ("api.mistral.ai", _MISTRAL),
    ("api.x.ai", _XAI),
    ("api.cerebras.ai", _CEREBRAS),
    ("api.together.xyz", Compat(vendor="together")),
    ("api.fireworks.ai", Compat(vendor="fireworks")),
)

# provider id → compat, for upstreams whose address says nothing (local servers
# on custom ports, proxies).
_BY_PROVIDER: dict[str, Compat] = {
    "openai": _OPENAI,
    "azure": _AZURE,
    "ollama": _OLLAMA,
    "lmstudio": _LMSTUDIO,
    "llamacpp": _LLAMACPP,
    "llama.cpp": _LLAMACPP,
    "vllm": Compat(vendor="vllm"),
    "deepseek": _DEEPSEEK,
    "openrouter": _OPENROUTER,
    "groq": _GROQ,
    "mistral": _MISTRAL,
    "xai": _XAI,
    "cerebras": _CEREBRAS,
    "together": Compat(vendor="together"),
    "fireworks": Compat(vendor="fireworks"),
}

# Well-known default ports of local servers: consulted last, when neither the
# host nor the provider said anything (the port is then the best hint there is).
_BY_PORT: dict[int, str] = {11434: "ollama", 1234: "lmstudio", 8080: "llamacpp", 8000: "vllm"}

_FIELDS = frozenset(f.name for f in dataclasses.fields(Compat))


def detect_compat(model: Model, base_url: str | None = None) -> Compat:
    """The quirks of ``model``'s upstream, with ``model.compat`` applied.

    ``base_url`` overrides ``model.base_url`` (as ``StreamOptions.base_url``
    does). Raises :class:`ConfigurationError` for an unknown override key or a
    value of the wrong type, naming the accepted keys.
    """
    url = base_url or model.base_url
    base = _detect(model.provider, url)
    if model.reasoning and base.vendor in ("openai", "azure"):
        base = dataclasses.replace(
            base,
            supports_temperature=False,
            unsupported_controls=base.unsupported_controls | _REASONING_REFUSES,
        )
    if (model.provider == "deepseek" or base.vendor == "deepseek") and "reasoner" in model.id:
        base = dataclasses.replace(base, supports_temperature=False)
    if not model.compat:
        return base
    return _apply_overrides(base, model.compat)


@functools.lru_cache(maxsize=256)
def _detect(provider: str, url: str) -> Compat:  # cached: Compat is frozen
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for pattern, compat in _BY_HOST:
        if host == pattern or (pattern.startswith(".") and host.endswith(pattern)):
            return compat
    found = _BY_PROVIDER.get(provider.lower())
    if found is not None:
        return found
    try:
        port = parts.port
    except ValueError:
        port = None
    if port in _BY_PORT:
        return _BY_PROVIDER[_BY_PORT[port]]
    return Compat()


def _apply_overrides(base: Compat, overrides: dict[str, Any]) -> Compat:
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise ConfigurationError(
            f"unknown openai-completions compat key(s) {', '.join(map(repr, unknown))} "
            f"in Model.compat; accepted keys: {', '.join(sorted(_FIELDS))}"
        )
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        current = getattr(base, key)
        if key == "reasoning_effort_levels":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigurationError(
                    "Model.compat['reasoning_effort_levels'] must be a list of strings"
                )
            value = tuple(value)
        elif key == "reasoning_field":
            if value is not None and not isinstance(value, str):
                raise ConfigurationError("Model.compat['reasoning_field'] must be a string or None")
        elif key == "max_tokens_field":
            if value not in ("max_tokens", "max_completion_tokens"):
                raise ConfigurationError(
                    "Model.compat['max_tokens_field'] must be 'max_tokens' or "
                    "'max_completion_tokens'"
                )
        elif key == "tool_call_id_format":
            if value not in ("any", "alnum9"):
                raise ConfigurationError(
                    "Model.compat['tool_call_id_format'] must be 'any' or 'alnum9'"
                )
        elif key == "max_tool_call_id_length":
            if value is not None and (not isinstance(value, int) or value < 9):
                raise ConfigurationError(
                    "Model.compat['max_tool_call_id_length'] must be None or an int >= 9"
                )
        elif key == "unsupported_controls":
            if not isinstance(value, list | tuple | set | frozenset) or not all(
                isinstance(v, str) for v in value
            ):
                raise ConfigurationError(
                    "Model.compat['unsupported_controls'] must be a list of control names"
                )
            value = frozenset(value)
        elif key == "reasoning_param":
            if value not in ("reasoning_effort", "openrouter", "none"):
                raise ConfigurationError(
                    "Model.compat['reasoning_param'] must be 'reasoning_effort', "
                    "'openrouter' or 'none'"
                )
        elif type(value) is not type(current):
            raise ConfigurationError(
                f"Model.compat[{key!r}] must be a {type(current).__name__}, "
                f"got {type(value).__name__}"
            )
        values[key] = value
    return dataclasses.replace(base, **values)


def effort_for(level: str, compat: Compat) -> str | None:
    """The effort value to send for ``level``, or None to send none.

    ``off`` sends nothing. A level the upstream lacks becomes the nearest one
    it has, searching upward first for ``minimal`` and downward for ``xhigh``.
    """
    if level == "off" or compat.reasoning_param == "none":
        return None
    levels = compat.reasoning_effort_levels
    if level in levels:
        return level
    order = ["minimal", "low", "medium", "high", "xhigh"]
    if level not in order or not levels:
        return None
    at = order.index(level)
    # nearest by distance; ties go to the lower level (cheaper, safer)
    ranked = sorted((abs(order.index(v) - at), order.index(v), v) for v in levels if v in order)
    return ranked[0][2] if ranked else None


def wire_tool_call_id(call_id: str, compat: Compat) -> str:
    """``call_id`` as this upstream accepts it.

    The rewrite is a pure function of the id (a hash where it must change),
    so an assistant's tool call and the tool result answering it always get
    the same new id, with no state kept between messages.
    """
    if compat.tool_call_id_format == "alnum9":
        if len(call_id) == 9 and call_id.isascii() and call_id.isalnum():
            return call_id
        return short_hash(call_id, 9)
    limit = compat.max_tool_call_id_length
    if limit is not None and len(call_id) > limit:
        return call_id[: limit - 9] + short_hash(call_id, 9)
    return call_id
