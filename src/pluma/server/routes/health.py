"""``GET /api/health``: is the server up, what is it connected to, does the
upstream answer, where do keys live, and what is misconfigured.

``status``: ``ok`` (a connection and no problems), ``setup`` (no connection
yet: first run), ``degraded`` (problems, or the upstream does not answer).
The HTTP status is 200 whenever the server itself works. ``?upstream=false``
skips asking the upstream (cheap liveness checks). The upstream's answer is
reused for :data:`UPSTREAM_TTL` seconds (per profile, URL and key), so a page
polling health does not turn into a stream of model-list calls upstream.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from fastapi import APIRouter, Depends

from pluma import __version__
from pluma.server.profiles.upstream import Verdict, check_upstream
from pluma.server.services import Services, get_services

router = APIRouter(tags=["health"])

UPSTREAM_TIMEOUT = 3.0
UPSTREAM_TTL = 5.0


async def _checked(state: Services, provider: Any, profile_id: str, key: str | None) -> Verdict:
    fingerprint = hashlib.sha256((key or "").encode()).hexdigest()[:16]
    cache_key = (profile_id, provider.id, provider.upstream, fingerprint)
    cache = state.upstream_checks
    hit = cache.get(cache_key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < UPSTREAM_TTL:
        return hit[1]
    verdict = await check_upstream(provider, key=key, timeout=UPSTREAM_TIMEOUT)
    cache.clear()  # one entry: the active profile's
    cache[cache_key] = (time.monotonic(), verdict)
    return verdict


def _store_problems(state: Services) -> list[str]:
    """What is wrong with the files the server keeps (each message says what
    to do); none of them stops the server from answering."""
    found = []
    secrets_problem = state.secrets.check()
    if secrets_problem is not None:
        found.append(secrets_problem)
    damage = getattr(state.conversations, "problem", None)
    if isinstance(damage, str):
        found.append(damage)
    return found


@router.get("/api/health")
async def health(upstream: bool = True, state: Services = Depends(get_services)) -> dict[str, Any]:
    cm = state.connections
    problems = [*state.problems, *cm.problems, *_store_problems(state)]
    active = cm.active()
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "pid": os.getpid(),  # which process answered (several with --workers)
        "first_run": active is None,
        "active": None,
        "provider": None,
        "upstream": None,
        "upstream_ok": None,
        "upstream_error": None,
        "secret_store": state.secrets.describe(),
        "storage": state.storage.description,
        "problems": problems,
        "data_dir": str(state.settings.data_dir),
        "token_required": state.settings.token is not None,
    }
    if active is None:
        body["status"] = "setup"
        body["message"] = (
            "no connection is configured: add one in the page, with POST /api/connections or "
            "`pluma connections add`, or start with --base-url; see GET /api/discovery for "
            "local backends found on this machine"
        )
        found = state.discovery.results_if_ready()
        body["discovered"] = [f.as_json() for f in found] if found is not None else None
        return body
    body["active"] = cm.describe(active, active.id)
    body["provider"] = active.compat
    body["upstream"] = active.base_url
    try:
        resolved = cm.resolve(active)
        provider = cm.provider_for(active.id if not cm.is_fallback(active) else None)
    except Exception as exc:
        problems.append(f"connection {active.name!r}: {exc}")
        body["status"] = "degraded"
        return body
    body["provider"] = provider.id
    body["upstream"] = provider.upstream
    if upstream:
        verdict = await _checked(state, provider, active.id, resolved.api_key)
        body["upstream_ok"] = verdict.ok
        body["upstream_models"] = len(verdict.models) if verdict.ok else None
        if not verdict.ok:
            body["upstream_error"] = verdict.message
            body["status"] = "degraded"
    if problems:
        body["status"] = "degraded"
    return body
