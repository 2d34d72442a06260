"""Connection profiles over HTTP.

| route                                   | does                                          |
|-----------------------------------------|-----------------------------------------------|
| ``GET /api/providers``                  | the registered compats, plugin display names  |
| ``GET /api/presets``                    | catalog providers as connection presets       |
| ``GET /api/connections``                | profiles (``has_key``, never the key)         |
| ``POST /api/connections``               | create (201); ``api_key`` is write-only       |
| ``GET /api/connections/{id}``           | one profile (id or name)                      |
| ``PUT /api/connections/{id}``           | change fields; ``api_key``: set, or null/"" to clear |
| ``DELETE /api/connections/{id}``        | remove the profile and its key (204)          |
| ``POST /api/connections/{id}/activate`` | make it the active profile                    |
| ``POST /api/connections/{id}/test``     | reachable? key accepted? how many models?     |
| ``GET /api/models[?connection=]``       | the models of the active or given profile     |
| ``GET /api/discovery``                  | local backends found running (first run)      |

Field errors are 422 with a message naming the field; unknown ids 404.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from pluma.server.chat.providers.base import create_provider, provider_kinds
from pluma.server.profiles.chat import ConnectionProfile
from pluma.server.profiles.connections import ConnectionManager, ProfileInvalid
from pluma.server.profiles.presets import connection_presets
from pluma.server.profiles.upstream import check_upstream, listing_failure
from pluma.server.services import Services, get_services

router = APIRouter(tags=["connections"])

TEST_TIMEOUT = 10.0
MODELS_TIMEOUT = 30.0


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connect: float | None = Field(default=None, description="seconds to connect")
    first_byte: float | None = Field(default=None, description="seconds to the first byte")
    idle: float | None = Field(default=None, description="seconds of silence mid-stream")


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="unique (case-insensitive); clients address <name>/<model>")
    base_url: str = Field(description="the upstream API root, e.g. http://127.0.0.1:11434/v1")
    compat: str = Field(default="openai", description="provider kind, from GET /api/providers")
    default_model: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts | None = None
    generation: dict[str, Any] | None = Field(
        default=None,
        description="default generation settings for new conversations (temperature, "
        "max_tokens, top_p, stop, reasoning)",
    )
    api_key: str | None = Field(default=None, description="write-only; kept in the secret store")
    activate: bool = Field(default=False, description="make it the active connection")


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    base_url: str | None = None
    compat: str | None = None
    default_model: str | None = None
    headers: dict[str, str] | None = None
    timeouts: Timeouts | None = None
    generation: dict[str, Any] | None = Field(
        default=None, description="default generation settings, replaced whole ({} clears)"
    )
    api_key: str | None = Field(default=None, description="write-only; null or '' clears the key")
    revision: int | None = Field(
        default=None,
        description="the revision this edit is based on (from GET); a stale one gets 409 and "
        "changes nothing",
    )


class ConnectionOut(BaseModel):
    id: str
    name: str
    compat: str
    base_url: str
    default_model: str
    headers: dict[str, str]
    timeouts: dict[str, float | None]
    generation: dict[str, Any] = Field(default_factory=dict)
    has_key: bool | None
    active: bool
    revision: int = 0
    fallback: bool


def _out(cm: ConnectionManager, profile: ConnectionProfile, active_id: str | None) -> ConnectionOut:
    return ConnectionOut(**cm.describe(profile, active_id))


@router.get("/api/providers")
def list_providers(state: Services = Depends(get_services)) -> dict[str, Any]:
    """The registered compats, and for plugin ones the display name their
    plugin gave (the page shows it; the value stays the compat)."""
    labels = state.plugins.labels("chat") if state.plugins is not None else {}
    return {"providers": provider_kinds(), "labels": labels}


@router.get("/api/presets")
def list_presets() -> dict[str, Any]:
    """Every catalog provider the registered compats can reach (see profiles/presets.py)."""
    return {"presets": connection_presets(provider_kinds())}


@router.get("/api/connections")
def list_connections(state: Services = Depends(get_services)) -> dict[str, Any]:
    cm: ConnectionManager = state.connections
    active_id, profiles = cm.listing()
    return {
        "active": active_id,
        "connections": [_out(cm, p, active_id).model_dump() for p in profiles],
    }


@router.post("/api/connections", status_code=201)
def create_connection(
    body: ConnectionCreate, state: Services = Depends(get_services)
) -> ConnectionOut:
    cm: ConnectionManager = state.connections
    profile = cm.create(
        name=body.name,
        base_url=body.base_url,
        compat=body.compat,
        default_model=body.default_model,
        headers=body.headers,
        timeouts=body.timeouts.model_dump(exclude_unset=True) if body.timeouts else None,
        generation=body.generation,
        api_key=body.api_key,
        activate=body.activate,
    )
    return _out(cm, profile, cm.active_id)


@router.get("/api/connections/{ref}")
def get_connection(ref: str, state: Services = Depends(get_services)) -> ConnectionOut:
    cm: ConnectionManager = state.connections
    return _out(cm, cm.lookup(ref), cm.active_id)


@router.put("/api/connections/{ref}")
def update_connection(
    ref: str, body: ConnectionUpdate, state: Services = Depends(get_services)
) -> ConnectionOut:
    cm: ConnectionManager = state.connections
    profile = cm.lookup(ref)
    changes: dict[str, Any] = {}
    for name in body.model_fields_set - {"revision"}:
        value = getattr(body, name)
        if name == "timeouts":
            changes[name] = value.model_dump(exclude_unset=True) if value is not None else None
        elif value is None and name not in ("api_key", "default_model", "generation"):
            raise ProfileInvalid(name, "cannot be null")
        else:
            changes[name] = value
    if not changes:
        raise HTTPException(
            422, detail="the body changes nothing: give at least one field to change"
        )
    updated = cm.update(profile.id, expected_revision=body.revision, **changes)
    return _out(cm, updated, cm.active_id)


@router.delete("/api/connections/{ref}", status_code=204)
def delete_connection(ref: str, state: Services = Depends(get_services)) -> Response:
    cm: ConnectionManager = state.connections
    cm.delete(cm.lookup(ref).id)
    return Response(status_code=204)


@router.post("/api/connections/{ref}/activate")
def activate_connection(ref: str, state: Services = Depends(get_services)) -> ConnectionOut:
    cm: ConnectionManager = state.connections
    chosen = cm.activate(cm.lookup(ref).id)
    return _out(cm, chosen, chosen.id)


def _provider(state: Services, profile: ConnectionProfile) -> tuple[Any, str | None]:
    cm: ConnectionManager = state.connections
    resolved = cm.resolve(profile)
    try:
        provider = create_provider(resolved, state.http)
    except ValueError as exc:
        raise ProfileInvalid("compat", str(exc)) from None
    return provider, resolved.api_key


@router.post("/api/connections/{ref}/test")
async def test_connection(ref: str, state: Services = Depends(get_services)) -> dict[str, Any]:
    cm: ConnectionManager = state.connections
    profile = cm.lookup(ref)
    provider, key = _provider(state, profile)
    verdict = await check_upstream(provider, key=key, timeout=TEST_TIMEOUT)
    return {"connection": {"id": profile.id, "name": profile.name}, **verdict.as_json()}


@router.get("/api/models")
async def list_models(
    connection: str | None = Query(default=None, description="profile id or name; default: active"),
    state: Services = Depends(get_services),
) -> dict[str, Any]:
    cm: ConnectionManager = state.connections
    if connection:
        profile = cm.lookup(connection)
    else:
        active = cm.active()
        if active is None:
            from pluma.server.profiles.connections import NoConnection

            raise NoConnection()
        profile = active
    provider, key = _provider(state, profile)
    verdict = await check_upstream(provider, key=key, timeout=MODELS_TIMEOUT)
    if not verdict.ok:
        # The key (none, or rejected) is the caller's to fix (401/403, not
        # retried); anything else the upstream did is a 502.
        status, message = listing_failure(profile.name, verdict)
        final = {"x-should-retry": "false"} if status in (401, 403) else None
        raise HTTPException(status, detail=message, headers=final)
    return {
        "connection": {"id": profile.id, "name": profile.name},
        "models": [dataclasses.asdict(m) for m in verdict.models],
    }


@router.get("/api/discovery")
async def discovery(state: Services = Depends(get_services)) -> dict[str, Any]:
    found = await state.discovery.results()
    return {
        "targets": [{"label": label, "base_url": url} for label, url in state.discovery.targets],
        "found": [f.as_json() for f in found],
    }
