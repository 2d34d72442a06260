"""Options only the ``ollama`` protocol understands.

Pass them as ``StreamOptions(protocol_options=OllamaOptions(...))``; the
client checks them before anything is sent.

| field      | wire                                                                  |
|------------|-----------------------------------------------------------------------|
| keep_alive | ``keep_alive``: how long the model stays loaded after the call        |
|            | (``"5m"``, ``"1h"``, seconds as a number, ``0`` unloads, ``-1`` keeps)|
| options    | merged into ``options`` (model parameters: ``num_ctx``, ``mirostat``, |
|            | ``repeat_penalty``, …); a key a neutral control also sets is refused  |
| think      | ``think`` verbatim (``True``/``False`` or ``"low"``/``"medium"``/     |
|            | ``"high"``); replaces the value derived from ``reasoning``            |
| extra_body | merged into the body last, verbatim (fields Pluma does not model);    |
|            | ``stream`` and ``messages`` cannot be replaced                        |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from pluma.llm.protocols.controls import check_extra_body
from pluma.llm.types import Tool

PROTOCOL = "ollama"

Think: TypeAlias = bool | Literal["low", "medium", "high"]
_DURATION = re.compile(r"^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)?$")


@dataclass(slots=True)
class OllamaOptions:
    """Model residency, model parameters, thinking and request extras."""

    keep_alive: str | int | float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    think: Think | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return PROTOCOL

    def validate(self, tools: Sequence[Tool]) -> None:
        """Raise ``ValueError`` saying what is wrong and how to fix it."""
        keep = self.keep_alive
        if keep is not None and (
            isinstance(keep, bool)
            or not (
                isinstance(keep, int | float) or (isinstance(keep, str) and _DURATION.match(keep))
            )
        ):
            raise ValueError(
                f"keep_alive must be a duration like '5m', '1h', '30s' or a number of "
                f"seconds, got {keep!r}"
            )
        if not isinstance(self.options, dict) or not all(
            isinstance(key, str) for key in self.options
        ):
            raise ValueError("options must be a dict of Ollama model parameters by name")
        if self.think is not None and self.think not in (True, False, "low", "medium", "high"):
            raise ValueError(
                f"think must be True, False, 'low', 'medium' or 'high', got {self.think!r}"
            )
        check_extra_body(self.extra_body, ("stream", "messages"))
