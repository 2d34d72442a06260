"""Asking an upstream for its model list, with a verdict a person can act on.

Used by ``/api/health``, ``POST /api/connections/{id}/test``, ``GET /api/models``
and the CLI. Failures are classified:

| failure                                       | verdict          | reachable | key accepted |
|-----------------------------------------------|------------------|-----------|--------------|
| answered, models listed                       | ``ok``           | yes       | yes / no key |
| HTTP 401 / 403                                | ``key_rejected`` | yes       | no           |
| any other HTTP status, or an answer that is   | ``upstream_error``| yes      | unknown      |
| not a model list                              |                  |           |              |
| remote upstream and no key set (not sent)     | ``no_key``       | unknown   | no           |
| refused, reset, DNS failure (no status)       | ``unreachable``  | no        | unknown      |
| no answer within the time limit               | ``timeout``      | no        | unknown      |
| anything else (a provider bug, bad config)    | ``error``        | unknown   | unknown      |

Every message is passed through :func:`pluma.llm.redact.mask` (the one masking
rule, shared with the library, the images and the log filter) with the
profile's key, so an upstream that echoes the key cannot leak it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from pluma.llm.errors import ConfigurationError, ProviderError
from pluma.llm.redact import mask
from pluma.server.chat.providers.base import ModelInfo, Provider
from pluma.server.errors import PlumaError


@dataclass(slots=True)
class Verdict:
    verdict: str
    reachable: bool | None
    key_accepted: bool | None
    has_key: bool
    message: str
    models: list[ModelInfo] = field(default_factory=list)
    status: int | None = None
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def as_json(self, *, model_limit: int = 200) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "reachable": self.reachable,
            "key_accepted": self.key_accepted,
            "has_key": self.has_key,
            "models": len(self.models) if self.ok else None,
            "model_ids": [m.id for m in self.models[:model_limit]],
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "message": self.message,
        }


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, ProviderError):
        return exc.status
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    if isinstance(exc, PlumaError):  # the status Pluma would answer with, not the upstream's
        return None
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


async def check_upstream(
    provider: Provider,
    *,
    key: str | None,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> Verdict:
    """List the upstream's models and say what worked."""
    has_key = bool(key)
    where = provider.upstream
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            models = await provider.list_models()
    except TimeoutError:
        return Verdict(
            "timeout",
            False,
            None,
            has_key,
            f"{where} did not answer within {timeout:g} s; is the server running and "
            "the base URL right?",
            latency_ms=(time.perf_counter() - started) * 1000,
        )
    except Exception as exc:
        elapsed = (time.perf_counter() - started) * 1000
        status = _status_of(exc)
        # A ProviderError's str() ends with "(HTTP n)": its bare message is
        # taken so the status is said once.
        words = exc.message if isinstance(exc, ProviderError) else str(exc)
        detail = mask(words, (key,) if key else ())[:500]
        if status in (401, 403):
            hint = "set the right key" if has_key else "this upstream needs an API key: set one"
            return Verdict(
                "key_rejected",
                True,
                False,
                has_key,
                f"{where} refused the {'key' if has_key else 'request without a key'} "
                f"(HTTP {status}): {detail}; {hint}",
                status=status,
                latency_ms=elapsed,
            )
        if status is not None:
            said = (
                f"{detail} (HTTP {status})"
                if where in detail
                else (f"{where} answered HTTP {status}: {detail}")
            )
            if status == 404:
                hint = base_url_hint(provider.id, where)
                said += f"; {hint}" if hint else ""
            return Verdict(
                "upstream_error",
                True,
                None,
                has_key,
                said,
                status=status,
                latency_ms=elapsed,
            )
        if _unreachable(exc):
            return Verdict(
                "unreachable",
                False,
                None,
                has_key,
                f"{detail if where in detail else f'cannot reach {where}: {detail}'}; "
                "is the server running and the base URL right?",
                latency_ms=elapsed,
            )
        if isinstance(exc, ConfigurationError) and not has_key:
            return Verdict("no_key", None, False, has_key, detail, latency_ms=elapsed)
        if isinstance(exc, ProviderError):
            return Verdict(
                "upstream_error",
                True,
                None,
                has_key,
                f"{where} answered, but not with a model list: {detail}",
                latency_ms=elapsed,
            )
        return Verdict(
            "error",
            None,
            None,
            has_key,
            f"listing models at {where} failed: {type(exc).__name__}: {detail}",
            latency_ms=elapsed,
        )
    elapsed = (time.perf_counter() - started) * 1000
    key_note = "key accepted" if has_key else "no key set"
    return Verdict(
        "ok",
        True,
        True if has_key else None,
        has_key,
        f"{where} is reachable, {key_note}, {len(models)} model(s)",
        models=list(models),
        latency_ms=elapsed,
    )


def _unreachable(exc: BaseException) -> bool:
    """A transport failure, raised directly or wrapped (``raise ... from None``
    keeps the original as ``__context__``)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, httpx.TransportError | OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def base_url_hint(compat: str, upstream: str) -> str:
    """What to try when an upstream answers 404 on its API root ``upstream``
    (empty when there is no likely fix to suggest)."""
    root = upstream.rstrip("/")
    if compat == "openai":
        if root.endswith("/v1"):
            return (
                "if this server does not serve its API under /v1, set the connection's "
                f"base URL to {root[: -len('/v1')]}"
            )
        return (
            "OpenAI-compatible servers usually serve their API under /v1: "
            f"try the base URL {root}/v1"
        )
    if compat == "anthropic":
        return (
            "check the connection's base URL: it is the API root, e.g. "
            "https://api.anthropic.com (with or without /v1)"
        )
    return ""


def listing_failure(name: str, verdict: Verdict) -> tuple[int, str]:
    """The HTTP status and message for connection ``name``'s failed model
    list: the key's problems are 401 / 403 (which the official SDKs do not
    retry) and say how to set it, anything else the upstream did is a 502."""
    message = f"could not list the models of connection {name!r}: {verdict.message}"
    if verdict.verdict == "key_rejected":
        return verdict.status or 401, f"{message} (`pluma keys set {name}` sets it)"
    if verdict.verdict == "no_key":
        return 401, message
    return 502, message
