"""The neutral sampling and output controls of :class:`StreamOptions`:
checking their values, and refusing the ones an upstream cannot honour.

Adapters map each control their protocol has; for the others they raise
:class:`UnsupportedControlError` (a :class:`ConfigurationError`) before any
byte leaves, so a caller never gets a reply made without a setting it asked
for. Value checks (ranges, shapes) happen once, in the client, for every
protocol alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluma.llm.errors import ConfigurationError

if TYPE_CHECKING:
    from pluma.llm.options import StreamOptions

CONTROLS: tuple[str, ...] = (
    "stop",
    "top_p",
    "top_k",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "user",
    "metadata",
    "parallel_tool_calls",
)
"""The control fields of :class:`StreamOptions`, in declaration order."""

_FORMATS = ("text", "json_object", "json_schema")


class UnsupportedControlError(ConfigurationError):
    """A control the target protocol or upstream has no equivalent for."""

    def __init__(self, field: str, upstream: str, detail: str = "") -> None:
        self.field = field
        self.upstream = upstream
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"{field} is not supported by {upstream}{why}; leave it unset for this model "
            "or use an upstream that has it"
        )


def controls_set(options: StreamOptions) -> list[str]:
    """The names of the controls the call sets (not None)."""
    return [name for name in CONTROLS if getattr(options, name) is not None]


def check_controls(options: StreamOptions) -> None:
    """Raise :class:`ConfigurationError` for a control value no protocol accepts."""
    stop = options.stop
    if stop is not None and (
        isinstance(stop, str) or not all(isinstance(s, str) and s for s in stop)
    ):
        raise ConfigurationError(
            f"stop must be a list of non-empty strings, got {stop!r} (a single sequence is ['...'])"
        )
    _range(options.top_p, "top_p", 0.0, 1.0)
    _range(options.presence_penalty, "presence_penalty", -2.0, 2.0)
    _range(options.frequency_penalty, "frequency_penalty", -2.0, 2.0)
    top_k = options.top_k
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigurationError(f"top_k must be a positive integer, got {top_k!r}")
    seed = options.seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigurationError(f"seed must be an integer, got {seed!r}")
    metadata = options.metadata
    if metadata is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ConfigurationError("metadata must map strings to strings")
    fmt = options.response_format
    if fmt is not None:
        if fmt.type not in _FORMATS:
            raise ConfigurationError(
                f"response_format.type must be one of {', '.join(_FORMATS)}, got {fmt.type!r}"
            )
        if fmt.type == "json_schema" and not isinstance(fmt.schema, dict):
            raise ConfigurationError(
                "response_format of type json_schema needs a schema (a JSON Schema dict)"
            )
        if fmt.type != "json_schema" and fmt.schema is not None:
            raise ConfigurationError(
                f"response_format.schema is only used with type json_schema, not {fmt.type!r}"
            )


def _range(value: float | None, name: str, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
