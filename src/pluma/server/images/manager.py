"""ImageConnectionManager: the image backend profiles, the active one, and the
boot-time fallback — the chat ``ConnectionManager`` mirrored for images.

``<datadir>/image_connections.json`` (secrets are never in it; a password or
token lives in the secret store under ``image-connection:<id>``)::

    {"version": 1, "active": "<id>", "connections": [
        {"id": "...", "name": "...", "kind": "a1111" | "comfyui" | ..., "base_url": "...",
         "auth": "none" | "basic" | "bearer", "username": "", "default_checkpoint": "",
         "workflow": null | {ComfyUI API-format workflow}, "timeout": 600.0}]}

| rule                                   | why                                            |
|----------------------------------------|------------------------------------------------|
| ids generated, short, url-safe         | stable handle for URLs and the keyring name    |
| names unique (any case)                | the CLI and page address profiles by name      |
| ``kind`` must be registered            | the kind picks the provider factory            |
| a ComfyUI workflow is validated on save| placeholders are checked before the first run  |
| the secret goes to the secret store    | never in the JSON file, responses or logs      |
| every write read-modify-write under    | the CLI edits the same file while a server     |
| the store's cross-process lock         | runs                                           |
| the file is re-read when it changes    | a running server sees CLI edits                |
| a file broken behind our back is kept  | a write then starts from the profiles loaded   |
| aside (``.corrupt-<time>``)            | before, so none is lost; ``problems`` says so  |
| the fallback (``--image-url`` /        | the seed's boot fallback: it serves only while |
| ``PLUMA_IMAGE_URL``) is read-only      | no image profile exists                        |
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import secrets as _random
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from pluma.server.connections import (
    ConnectionsError,
    NameTaken,
    NoConnection,
    ProfileInvalid,
    ProfileNotFound,
    ReadOnlyProfile,
)
from pluma.server.images.base import ImageProvider, create_image_provider, image_provider_kinds
from pluma.server.images.profiles import AUTH_KINDS, ImageConnectionProfile
from pluma.server.images.workflows import check_workflow
from pluma.server.secrets import SecretStore, image_connection_secret
from pluma.server.store import CorruptStoreError, JsonStore, StoreProblem

log = logging.getLogger("pluma.images")

FALLBACK_ID = "image-fallback"
FALLBACK_NAME = "default"
NAME_MAX = 64
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
UNSET: Any = object()


class ImageProfileNotFound(ProfileNotFound):
    def __init__(self, ref: str) -> None:
        ConnectionsError.__init__(
            self,
            f"no image connection named or with id {ref!r}; list them with "
            "GET /api/image-connections or `pluma images connections list`",
        )
        self.ref = ref


class NoImageConnection(NoConnection):
    """No image profile and no fallback (HTTP 409)."""

    def __init__(self) -> None:
        ConnectionsError.__init__(
            self,
            "no image connection is configured: add one (POST /api/image-connections, "
            "`pluma images connections add`) or start the server with --image-url",
        )


class ImageNameTaken(NameTaken):
    def __init__(self, name: str) -> None:
        ProfileInvalid.__init__(
            self,
            "name",
            f"an image connection named {name!r} already exists (names are case-insensitive)",
        )


class ImageReadOnlyProfile(ReadOnlyProfile):
    def __init__(self) -> None:
        ConnectionsError.__init__(
            self,
            "the fallback image connection comes from --image-url / PLUMA_IMAGE_URL and cannot "
            "be changed here; add an image connection instead",
        )


def new_id() -> str:
    return "img" + _random.token_urlsafe(6).replace("-", "x").replace("_", "y")


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


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileInvalid("name", "must be a non-empty string")
    name = value.strip()
    if len(name) > NAME_MAX:
        raise ProfileInvalid("name", f"must be at most {NAME_MAX} characters")
    if any(ord(c) < 32 for c in name):
        raise ProfileInvalid("name", "must not contain control characters")
    return name


def _check_kind(value: Any) -> str:
    kinds = image_provider_kinds()
    if not isinstance(value, str) or value not in kinds:
        raise ProfileInvalid(
            "kind", f"{value!r} is not a registered image provider (registered: {', '.join(kinds)})"
        )
    return value


def _check_base_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileInvalid("base_url", "must be a URL such as http://127.0.0.1:7860")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileInvalid("base_url", f"{value!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ProfileInvalid(
            "base_url", "must not contain credentials; set auth, username and secret instead"
        )
    return url


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
    if value is None:
        return None
    if not isinstance(value, str) or any(c in value for c in "\r\n"):
        raise ProfileInvalid("secret", "must be a single-line string (or null to clear it)")
    return value.strip() or None


def _check_checkpoint(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProfileInvalid("default_checkpoint", "must be a string")
    return value.strip()


def _check_timeout(value: Any) -> float:
    if value is None:
        return 600.0
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
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


# -- the manager -----------------------------------------------------------------


class ImageConnectionManager:
    """Thread-safe; every change goes through the file store at once."""

    def __init__(
        self,
        data_dir: Path,
        secrets: SecretStore,
        *,
        fallback: ImageConnectionProfile | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "image_connections.json"
        self.secrets = secrets
        self.fallback = fallback
        self.http = http
        self.store = JsonStore(self.path)
        self.problems: list[str] = []
        self.store_problem: StoreProblem | None = None
        self._lock = threading.RLock()
        self._doc: dict[str, Any] = {"version": 1, "active": None, "connections": []}
        self._stat: tuple[int, int, int] | None = None
        if self.data_dir.is_dir():
            self.store.sweep()  # temp files of a writer that died mid-write
        doc, problem = self.store.recover()
        if problem is not None:
            self.store_problem = problem
            self.problems.append(problem.describe())
            log.error("%s", problem.describe())
        self._accept(doc)

    # -- loading -----------------------------------------------------------------

    def _accept(self, doc: Any) -> None:
        connections = []
        for index, item in enumerate(doc.get("connections", []) if isinstance(doc, dict) else []):
            try:
                connections.append(profile_to_json(profile_from_json(item)))
            except (KeyError, TypeError, ValueError) as exc:
                message = (
                    f"{self.path}: image connection #{index} is malformed ({exc}) and was skipped"
                )
                if message not in self.problems:
                    self.problems.append(message)
                    log.warning("%s", message)
        self._doc = {
            "version": 1,
            "active": doc.get("active") if isinstance(doc, dict) else None,
            "connections": connections,
        }
        self._stat = self.store.stat_key()

    def _refresh(self) -> None:
        if self.store.stat_key() == self._stat:
            return
        try:
            self._accept(self.store.read())
        except CorruptStoreError as exc:
            message = f"{exc}; keeping the image connections loaded before"
            if message not in self.problems:
                self.problems.append(message)
                log.error("%s", message)

    def list(self) -> list[ImageConnectionProfile]:
        with self._lock:
            self._refresh()
            return [profile_from_json(c) for c in self._doc["connections"]]

    # -- reading -----------------------------------------------------------------

    def get(self, profile_id: str) -> ImageConnectionProfile:
        profiles = self.list()
        if self.fallback is not None and profile_id == self.fallback.id and not profiles:
            return dataclasses.replace(self.fallback, secret=None)
        for profile in profiles:
            if profile.id == profile_id:
                return profile
        raise ImageProfileNotFound(profile_id)

    def lookup(self, ref: str) -> ImageConnectionProfile:
        """By id, else by name (case-insensitive)."""
        try:
            return self.get(ref)
        except ImageProfileNotFound:
            folded = ref.casefold()
            profiles = self.list()
            for profile in profiles:
                if profile.name.casefold() == folded:
                    return profile
            if (
                self.fallback is not None
                and not profiles
                and self.fallback.name.casefold() == folded
            ):
                return dataclasses.replace(self.fallback, secret=None)
            raise

    def active(self) -> ImageConnectionProfile | None:
        """The active profile; the first one when the stored choice is gone;
        the fallback when there are no profiles."""
        with self._lock:
            profiles = self.list()
            chosen = self._doc.get("active")
        for profile in profiles:
            if profile.id == chosen:
                return profile
        if profiles:
            return profiles[0]
        if self.fallback is not None:
            return dataclasses.replace(self.fallback, secret=None)
        return None

    @property
    def active_id(self) -> str | None:
        active = self.active()
        return active.id if active else None

    def is_fallback(self, profile: ImageConnectionProfile) -> bool:
        return self.fallback is not None and profile.id == self.fallback.id

    def has_secret(self, profile: ImageConnectionProfile) -> bool:
        if self.is_fallback(profile):
            return bool(self.fallback and self.fallback.secret)
        return self.secrets.has(image_connection_secret(profile.id))

    def resolve(self, profile: ImageConnectionProfile) -> ImageConnectionProfile:
        """A copy of ``profile`` with its secret from the secret store."""
        if self.is_fallback(profile):
            assert self.fallback is not None
            return dataclasses.replace(profile, secret=self.fallback.secret)
        secret = self.secrets.get(image_connection_secret(profile.id))
        return dataclasses.replace(profile, secret=secret)

    def provider(
        self, ref: str | None = None, http: httpx.AsyncClient | None = None
    ) -> tuple[ImageProvider, ImageConnectionProfile]:
        """A fresh provider for the given profile (id or name) or the active
        one, and that profile (without its secret)."""
        if ref:
            profile = self.lookup(ref)
        else:
            active = self.active()
            if active is None:
                raise NoImageConnection()
            profile = active
        client = http or self.http
        if client is None:
            from pluma.llm.transport.http import shared_client

            client = shared_client()
        try:
            provider = create_image_provider(self.resolve(profile), client)
        except ValueError as exc:
            raise ProfileInvalid("kind", str(exc)) from None
        return provider, profile

    # -- writing -----------------------------------------------------------------

    def _write(self, change: Any) -> Any:
        with self._lock:
            try:
                result = self.store.update(change)
            except CorruptStoreError:
                # The file was broken behind our back: keep it aside, start
                # over from the profiles we had (recovery alone would start
                # from an empty file and drop them all), and say so.
                _, problem = self.store.recover()
                if problem is not None:
                    self.problems.append(problem.describe())
                    log.error("%s", problem.describe())
                    known = json.loads(json.dumps(self._doc))

                    def restore(doc: dict[str, Any]) -> None:
                        doc.update(known)

                    self.store.update(restore)
                result = self.store.update(change)
            self._accept(self.store.read())
            return result

    @staticmethod
    def _name_free(doc: dict[str, Any], name: str, except_id: str | None = None) -> None:
        for item in doc.get("connections", []):
            if (
                item.get("id") != except_id
                and str(item.get("name", "")).casefold() == name.casefold()
            ):
                raise ImageNameTaken(name)

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
            name=_check_name(name),
            kind=checked_kind,
            base_url=_check_base_url(base_url),
            auth=_check_auth(auth),  # type: ignore[arg-type]
            username=_check_username(username),
            default_checkpoint=_check_checkpoint(default_checkpoint),
            workflow=check_workflow_field(workflow, checked_kind),
            timeout=_check_timeout(timeout),
        )
        value = _check_secret(secret)

        def add(doc: dict[str, Any]) -> None:
            self._name_free(doc, profile.name)
            connections = doc.setdefault("connections", [])
            doc["version"] = 1
            connections.append(profile_to_json(profile))
            if activate or not doc.get("active") or len(connections) == 1:
                doc["active"] = profile.id

        if value:
            self.secrets.set(image_connection_secret(profile.id), value)
        try:
            self._write(add)
        except BaseException:
            if value:
                with contextlib.suppress(Exception):
                    self.secrets.delete(image_connection_secret(profile.id))
            raise
        log.info("image connection %r (%s) added", profile.name, profile.id)
        return profile

    def update(self, profile_id: str, **changes: Any) -> ImageConnectionProfile:
        """Change fields. ``secret``: a string sets it, None or "" clears it,
        absent leaves it."""
        if self.fallback is not None and profile_id == self.fallback.id:
            raise ImageReadOnlyProfile()
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ProfileInvalid(
                sorted(unknown)[0], f"unknown field; editable: {', '.join(EDITABLE)}"
            )
        secret = changes.pop("secret", UNSET)
        new_secret = UNSET if secret is UNSET else _check_secret(secret)
        checked: dict[str, Any] = {}
        if "name" in changes:
            checked["name"] = _check_name(changes["name"])
        if "kind" in changes:
            checked["kind"] = _check_kind(changes["kind"])
        if "base_url" in changes:
            checked["base_url"] = _check_base_url(changes["base_url"])
        if "auth" in changes:
            checked["auth"] = _check_auth(changes["auth"])
        if "username" in changes:
            checked["username"] = _check_username(changes["username"])
        if "default_checkpoint" in changes:
            checked["default_checkpoint"] = _check_checkpoint(changes["default_checkpoint"])
        if "timeout" in changes:
            checked["timeout"] = _check_timeout(changes["timeout"])

        def edit(doc: dict[str, Any]) -> ImageConnectionProfile:
            for item in doc.get("connections", []):
                if item.get("id") == profile_id:
                    current = profile_from_json(item)
                    if "name" in checked:
                        self._name_free(doc, checked["name"], except_id=profile_id)
                    kind = checked.get("kind", current.kind)
                    if "workflow" in changes:
                        checked["workflow"] = check_workflow_field(changes["workflow"], kind)
                    elif kind != "comfyui":
                        checked["workflow"] = None
                    updated = dataclasses.replace(current, **checked)
                    item.clear()
                    item.update(profile_to_json(updated))
                    return updated
            raise ImageProfileNotFound(profile_id)

        updated: ImageConnectionProfile = self._write(edit)
        if new_secret is not UNSET:
            if new_secret:
                self.secrets.set(image_connection_secret(profile_id), new_secret)
            else:
                self.secrets.delete(image_connection_secret(profile_id))
        log.info("image connection %r (%s) updated", updated.name, updated.id)
        return updated

    def delete(self, profile_id: str) -> None:
        if self.fallback is not None and profile_id == self.fallback.id and not self.list():
            raise ImageReadOnlyProfile()

        def remove(doc: dict[str, Any]) -> ImageConnectionProfile:
            connections = doc.get("connections", [])
            for index, item in enumerate(connections):
                if item.get("id") == profile_id:
                    del connections[index]
                    if doc.get("active") == profile_id:
                        doc["active"] = connections[0]["id"] if connections else None
                    return profile_from_json(item)
            raise ImageProfileNotFound(profile_id)

        removed: ImageConnectionProfile = self._write(remove)
        self.secrets.delete(image_connection_secret(profile_id))
        log.info("image connection %r (%s) removed", removed.name, removed.id)

    def activate(self, profile_id: str) -> ImageConnectionProfile:
        def choose(doc: dict[str, Any]) -> ImageConnectionProfile:
            for item in doc.get("connections", []):
                if item.get("id") == profile_id:
                    doc["active"] = profile_id
                    return profile_from_json(item)
            raise ImageProfileNotFound(profile_id)

        chosen: ImageConnectionProfile = self._write(choose)
        log.info("image connection %r (%s) is now active", chosen.name, chosen.id)
        return chosen


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
