"""First-run discovery: which local chat backends are running on this machine?

Each target is probed at ``<base_url>/models`` (the OpenAI-compatible model
list every one of them serves) concurrently, with a short timeout, so a
machine with nothing running answers in well under a second.

| backend   | default base URL             |
|-----------|------------------------------|
| Ollama    | http://127.0.0.1:11434/v1    |
| LM Studio | http://127.0.0.1:1234/v1     |
| llama.cpp | http://127.0.0.1:8080/v1     |
| vLLM      | http://127.0.0.1:8000/v1     |

A found backend is offered as a ready profile body for ``POST /api/connections``.
A backend that also answers Ollama's own ``GET /api/version`` is Ollama, and is
offered with the native ``ollama`` compat at its server root (thinking, tool
calls and token counts come through as Ollama reports them), not through its
OpenAI-compatible layer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("pluma.discovery")


@dataclass(slots=True)
class Found:
    label: str
    base_url: str
    models: list[str] = field(default_factory=list)
    needs_key: bool = False
    """It answered 401/403: running, but set a key on the profile."""
    compat: str = "openai"
    """The provider to offer: ``ollama`` for a native Ollama, else ``openai``."""
    profile_url: str = ""
    """The base URL to offer (Ollama's server root); empty: :attr:`base_url`."""

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "base_url": self.base_url,
            "models": self.models,
            "needs_key": self.needs_key,
            "compat": self.compat,
            "profile": {
                "name": self.label,
                "compat": self.compat,
                "base_url": self.profile_url or self.base_url,
                "default_model": self.models[0] if self.models else "",
            },
        }


class Discovery:
    def __init__(
        self,
        targets: Sequence[tuple[str, str]],
        http: httpx.AsyncClient,
        *,
        timeout: float = 0.8,
        max_age: float = 5.0,
    ) -> None:
        self.targets = list(targets)
        self.http = http
        self.timeout = timeout
        self.max_age = max_age
        self._last: list[Found] | None = None
        self._at = 0.0
        self._running: asyncio.Task[list[Found]] | None = None

    async def probe(self) -> list[Found]:
        """Probe every target now (concurrent probes share one run)."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._probe_all())
        return await asyncio.shield(self._running)

    async def results(self) -> list[Found]:
        """The last results when fresh, else a new probe."""
        if self._last is not None and time.monotonic() - self._at < self.max_age:
            return self._last
        return await self.probe()

    def results_if_ready(self) -> list[Found] | None:
        """The last results without waiting (None before the first probe ends)."""
        return self._last

    async def _probe_all(self) -> list[Found]:
        answers = await asyncio.gather(*(self._probe(label, url) for label, url in self.targets))
        found = [a for a in answers if a is not None]
        self._last, self._at = found, time.monotonic()
        if found:
            log.info(
                "found local backends: %s", ", ".join(f"{f.label} at {f.base_url}" for f in found)
            )
        return found

    async def _probe(self, label: str, base_url: str) -> Found | None:
        url = base_url.rstrip("/") + "/models"
        try:
            response = await self.http.get(url, timeout=self.timeout)
            if response.status_code in (401, 403):
                return Found(label, base_url.rstrip("/"), needs_key=True)
            if response.status_code != 200:
                return None
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return None
        models = [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        found = Found(label, base_url.rstrip("/"), models)
        root = found.base_url.removesuffix("/v1")
        if await self._is_ollama(root):
            found.compat, found.profile_url = "ollama", root
        return found

    async def _is_ollama(self, root: str) -> bool:
        """Whether ``root`` answers Ollama's ``GET /api/version`` (``{"version"}``)."""
        try:
            response = await self.http.get(root + "/api/version", timeout=self.timeout)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return False
        return isinstance(body, dict) and isinstance(body.get("version"), str)
