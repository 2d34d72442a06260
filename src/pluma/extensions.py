"""One way to load third-party Python code: entry points, one rule for all.

| group                    | the name is…                  | the value names…                                   |
|--------------------------|-------------------------------|----------------------------------------------------|
| ``pluma.llm.adapters``   | a label (the adapter declares | a zero-argument factory returning a                |
|                          | its ``protocol`` itself)      | ``ProtocolAdapter`` (typically the class)          |
| ``pluma.providers``      | the compat it registers       | a chat ``ProviderFactory`` ``(profile, http)``     |
| ``pluma.image_providers``| the kind it registers         | an ``ImageProviderFactory`` ``(profile, http)``    |

**The rule:** an entry point's value is ``module:attribute`` and names a
callable factory; loading never runs more than importing that module and,
for adapters, calling the factory once. A value that names a module, or
anything not callable, is a problem, not a guess. A package that fails to
import is reported, never fatal: every problem is kept here
(:func:`problems`) and shown by ``/api/health`` and ``pluma plugins list``.

Subprocess plugins (``<datadir>/plugins``, :mod:`pluma.server.plugins`)
register into the same chat and image registries, under the same keys.

This module imports nothing from ``pluma.server`` (``pluma.llm`` uses it).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

Register = Callable[[str, Callable[..., Any]], None]
"""Called with the entry point's name and the factory it names."""

ADAPTERS = "pluma.llm.adapters"
CHAT_PROVIDERS = "pluma.providers"
IMAGE_PROVIDERS = "pluma.image_providers"
GROUPS: tuple[str, ...] = (ADAPTERS, CHAT_PROVIDERS, IMAGE_PROVIDERS)

_problems: dict[str, None] = {}
"""Every problem seen in this process, in order, without repeats."""


def problems() -> list[str]:
    """The problems every load so far found."""
    return list(_problems)


def describe(entry: EntryPoint, why: str) -> str:
    return f"entry point {entry.name!r} in {entry.group} ({entry.value}) {why}"


def load(group: str, register: Register, entries: Iterable[EntryPoint] | None = None) -> list[str]:
    """Register every entry point of ``group`` (or the ``entries`` given)
    through ``register``; returns this load's problems (also kept for
    :func:`problems`)."""
    found: list[str] = []
    for entry in entry_points(group=group) if entries is None else entries:
        if ":" not in entry.value:
            found.append(
                describe(entry, "names a module; it must name a factory as module:attribute")
            )
            continue
        try:
            factory = entry.load()
        except Exception as exc:
            found.append(describe(entry, f"failed to load: {type(exc).__name__}: {exc}"))
            continue
        if isinstance(factory, types.ModuleType) or not callable(factory):
            found.append(describe(entry, f"names {type(factory).__name__}, not a factory"))
            continue
        try:
            register(entry.name, factory)
        except Exception as exc:
            found.append(describe(entry, f"was refused: {type(exc).__name__}: {exc}"))
    for problem in found:
        _problems[problem] = None
    return found


def load_all() -> list[str]:
    """Load every group into the registries Pluma uses (adapters into the
    default client's registry); returns all problems seen so far."""
    from pluma import llm
    from pluma.server.chat.providers.base import register_provider
    from pluma.server.images.base import register_image_provider

    load(ADAPTERS, lambda _name, factory: llm.register(factory()))
    load(CHAT_PROVIDERS, register_provider)
    load(IMAGE_PROVIDERS, register_image_provider)
    return problems()
