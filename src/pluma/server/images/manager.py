"""ImageConnectionManager: the image backend profiles, the active one, and the
boot-time fallback — the chat ``ConnectionManager`` mirrored for images.

``<datadir>/image_connections.json`` (secrets are never in it; a password or
token lives in the secret store under ``image-connection:<id>``)::

    {"version": 1, "active": "<id>", "connections": [
        {"id": "...", "name": "...", "kind": "a1111" | "comfyui" | ..., "base_url": "...",
         "auth": "none" | "basic" | "bearer", "username": "", "default_checkpoint": "",
         "workflow": null | {ComfyUI API-format workflow}, "timeout": 600.0}]}

The storage, the active profile, the fallback and the secret's place in the
secret store are :class:`~pluma.server.profiles.registry.ProfileRegistry`'s
(its docstring has the rules both managers share). What is images' own:

| rule                                   | why                                            |
|----------------------------------------|------------------------------------------------|
| ids generated, short, url-safe         | stable handle for URLs and the keyring name    |
| (``img…``)                             |                                                |
| ``kind`` must be registered            | the kind picks the provider factory            |
| a ComfyUI workflow is validated on save| placeholders are checked before the first run  |
| the fallback keeps its secret on itself| it comes from ``--image-url`` (``user:pass@``) |
|                                        | or the command line, not the secret store      |
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pluma.server.images.base import ImageProvider, create_image_provider, image_provider_kinds
from pluma.server.images.masking import masked
from pluma.server.images.profiles import AUTH_KINDS, ImageConnectionProfile
from pluma.server.images.workflows import check_workflow
from pluma.server.profiles.registry import (
    UNSET,
    NoProfile,
    ProfileInvalid,
    ProfileKind,
    ProfileNameTaken,
    ProfileReadOnly,
    ProfileRegistry,
    UnknownProfile,
    check_base_url,
    check_changes,
    check_editable,
    check_name,
    check_secret,
    check_text,
    is_seconds,
)
from pluma.server.profiles.registry import new_id as registry_new_id
from pluma.server.storage.documents import DocumentStore
from pluma.server.storage.secrets import SecretStore, image_connection_secret

log = logging.getLogger("pluma.images")

FALLBACK_ID = "image-fallback"
FALLBACK_NAME = "default"
EDITABLE = (
    "name",
    "kind",
    "base_url",
    "auth",
    "username",
    "secret",
    "default_checkpoint",
    "workflow",
    "timeout",
)


class ImageProfileNotFound(UnknownProfile):
    code = "unknown_image_connection"

    def __init__(self, ref: str) -> None:
        super().__init__(
            ref,
            f"no image connection named or with id {ref!r}; list them with "
            "GET /api/image-connections or `pluma images connections list`",
        )


class NoImageConnection(NoProfile):
    """No image profile and no fallback (HTTP 409)."""

    code = "no_image_connection"

    def __init__(self) -> None:
        super().__init__(
            "no image connection is configured: add one (POST /api/image-connections, "
            "`pluma images connections add`) or start the server with --image-url",
        )


class ImageNameTaken(ProfileNameTaken):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"an image connection named {name!r} already exists (names are case-insensitive)"
        )


class ImageReadOnlyProfile(ProfileReadOnly):
    def __init__(self) -> None:
        super().__init__(
            "the fallback image connection comes from --image-url / PLUMA_IMAGE_URL and cannot "
            "be changed here; add an image connection instead",
        )


def new_id() -> str:
    return registry_new_id("img")


# -- (de)serialization ---------------------------------------------------------


def profile_to_json(profile: ImageConnectionProfile) -> dict[str, Any]:
    """The stored form: everything but the secret."""
    return {
        "id": profile.id,
        "name": profile.name,
        "kind": profile.kind,
        "base_url": profile.base_url,
        "auth": profile.auth,
        "username": profile.username,
        "default_checkpoint": profile.default_checkpoint,
        "workflow": profile.workflow,
        "timeout": profile.timeout,
    }


def profile_from_json(data: Mapping[str, Any]) -> ImageConnectionProfile:
    auth = str(data.get("auth") or "none")
    if auth not in AUTH_KINDS:
        raise ValueError(f"unknown auth {auth!r}")
    workflow = data.get("workflow")
    return ImageConnectionProfile(
        id=str(data["id"]),
        name=str(data["name"]),
        kind=str(data["kind"]),
        base_url=str(data["base_url"]),
        auth=auth,  # type: ignore[arg-type]
        username=str(data.get("username") or ""),
        default_checkpoint=str(data.get("default_checkpoint") or ""),
        workflow=workflow if isinstance(workflow, dict) else None,
        timeout=float(data.get("timeout") or 600.0),
    )


# -- validation ------------------------------------------------------------------


def _check_kind(value: Any) -> str:
    kinds = image_provider_kinds()
    if not isinstance(value, str) or value not in kinds:
        raise ProfileInvalid(
            "kind", f"{value!r} is not a registered image provider (registered: {', '.join(kinds)})"
        )
    return value


def _check_base_url(value: Any) -> str:
    return check_base_url(
        value, example="http://127.0.0.1:7860", instead="auth, username and secret"
    )


def _check_auth(value: Any) -> str:
    if value is None:
        return "none"
    if value not in AUTH_KINDS:
        raise ProfileInvalid("auth", f"must be one of {', '.join(AUTH_KINDS)}")
    return str(value)


def _check_username(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or ":" in value or any(ord(c) < 32 for c in value):
        raise ProfileInvalid("username", "must be a single-line string without ':'")
    return value.strip()


def _check_secret(value: Any) -> str | None:
    return check_secret(value, "secret")


def _check_checkpoint(value: Any) -> str:
    return check_text(value, "default_checkpoint")


def _check_timeout(value: Any) -> float:
    if value is None:
        return 600.0
    if not is_seconds(value):
        raise ProfileInvalid("timeout", "must be a positive number of seconds")
    return float(value)


def check_workflow_field(value: Any, kind: str) -> dict[str, Any] | None:
    """A workflow given as an object or as JSON text; validated (for any kind
    that uses one: today ComfyUI)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ProfileInvalid("workflow", f"is not valid JSON ({exc})") from None
    if kind != "comfyui":
        raise ProfileInvalid(
            "workflow", f"only ComfyUI connections take a workflow (kind is {kind!r})"
        )
    check = check_workflow(value)
    if not check.ok:
        raise ProfileInvalid("workflow", "; ".join(check.problems))
    assert isinstance(value, dict)
    return value


UPDATE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": check_name,
    "kind": _check_kind,
    "base_url": _check_base_url,
    "auth": _check_auth,
    "username": _check_username,
    "default_checkpoint": _check_checkpoint,
    "timeout": _check_timeout,
}
"""The fields an update checks on their own (``workflow`` depends on the
kind, ``secret`` goes to the secret store)."""


# -- the manager -----------------------------------------------------------------


def _with_secret(profile: ImageConnectionProfile, secret: str | None) -> ImageConnectionProfile:
    return dataclasses.replace(profile, secret=secret)


IMAGE_CONNECTIONS: ProfileKind[ImageConnectionProfile] = ProfileKind(
    noun="image connection",
    file_name="image_connections.json",
    to_json=profile_to_json,
    from_json=profile_from_json,
    secret_name=image_connection_secret,
    with_secret=_with_secret,
    not_found=ImageProfileNotFound,
    name_taken=ImageNameTaken,
    read_only=ImageReadOnlyProfile,
    unconfigured=NoImageConnection,
    log=log,
)
"""What makes a :class:`ProfileRegistry` hold image connections."""


class ImageConnectionManager(ProfileRegistry[ImageConnectionProfile]):
    """The image profiles: storage, the active one and the fallback come from
    :class:`ProfileRegistry`; this adds their validation and providers."""

    def __init__(
        self,
        data_dir: Path,
        secrets: SecretStore,
        *,
        fallback: ImageConnectionProfile | None = None,
        http: httpx.AsyncClient | None = None,
        store: DocumentStore | None = None,
    ) -> None:
        # The fallback carries its own secret (from the URL or the command line).
        super().__init__(
            IMAGE_CONNECTIONS,
            data_dir,
            secrets,
            fallback=fallback,
            fallback_secret=fallback.secret if fallback is not None else None,
            http=http,
            store=store,
        )

    def has_secret(self, profile: ImageConnectionProfile) -> bool:
        return self._has_secret(profile.id)

    def provider(
        self, ref: str | None = None, http: httpx.AsyncClient | None = None
    ) -> tuple[ImageProvider, ImageConnectionProfile]:
        """A fresh provider for the given profile (id or name) or the active
        one, and that profile (without its secret)."""
        profile = self._pick(ref)
        resolved = self.resolve(profile)
        try:
            provider = create_image_provider(resolved, self._client(http))
        except ValueError as exc:
            raise ProfileInvalid("kind", str(exc)) from None
        return masked(provider, resolved.secrets()), profile

    # -- writing -----------------------------------------------------------------

    def create(
        self,
        *,
        name: Any,
        base_url: Any,
        kind: Any = "a1111",
        auth: Any = "none",
        username: Any = "",
        secret: Any = None,
        default_checkpoint: Any = "",
        workflow: Any = None,
        timeout: Any = None,
        activate: bool | None = None,
    ) -> ImageConnectionProfile:
        """Add a profile (the first one becomes active, or any with
        ``activate=True``). The secret goes to the secret store."""
        checked_kind = _check_kind(kind)
        profile = ImageConnectionProfile(
            id=new_id(),
            name=check_name(name),
            kind=checked_kind,
            base_url=_check_base_url(base_url),
            auth=_check_auth(auth),  # type: ignore[arg-type]
            username=_check_username(username),
            default_checkpoint=_check_checkpoint(default_checkpoint),
            workflow=check_workflow_field(workflow, checked_kind),
            timeout=_check_timeout(timeout),
        )
        return self._insert(profile, _check_secret(secret), activate)

    def update(self, profile_id: str, **changes: Any) -> ImageConnectionProfile:
        """Change fields. ``secret``: a string sets it, None or "" clears it,
        absent leaves it."""
        self._refuse_fallback(profile_id)
        check_editable(changes, EDITABLE)
        secret = changes.pop("secret", UNSET)
        new_secret = UNSET if secret is UNSET else _check_secret(secret)
        checked = check_changes(changes, UPDATE_CHECKS)

        def revise(current: ImageConnectionProfile) -> ImageConnectionProfile:
            # The workflow is checked against the kind the profile will have;
            # a profile that stops being ComfyUI drops its workflow.
            kind = checked.get("kind", current.kind)
            if "workflow" in changes:
                checked["workflow"] = check_workflow_field(changes["workflow"], kind)
            elif kind != "comfyui":
                checked["workflow"] = None
            return dataclasses.replace(current, **checked)

        return self._revise(profile_id, revise, name=checked.get("name"), secret=new_secret)


def image_fallback_profile(
    image_url: str | None, kind: str = "a1111", secret: str | None = None
) -> ImageConnectionProfile | None:
    """The boot-time profile from ``--image-url`` / ``PLUMA_IMAGE_URL``.

    A URL with ``user:password@`` becomes HTTP Basic auth (A1111
    ``--api-auth``); the credentials are taken out of the URL so they never
    show in responses.
    """
    if not image_url:
        return None
    parts = urlsplit(image_url.strip())
    auth = "none"
    username = ""
    if parts.username or parts.password:
        auth = "basic"
        username = parts.username or ""
        secret = parts.password or secret
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    elif secret:
        auth = "bearer"
    return ImageConnectionProfile(
        id=FALLBACK_ID,
        name=FALLBACK_NAME,
        kind=kind,
        base_url=parts.geturl().rstrip("/"),
        auth=auth,  # type: ignore[arg-type]
        username=username,
        secret=secret,
    )
