"""Image connection profiles: how to reach one image backend.

A profile is what ``image_connections.json`` stores (never its secret). The
image connection manager resolves the secret (a password for ``basic``, a
token for ``bearer``) from the secret store into ``secret`` just before
building a provider; providers use it and never touch the keyring.

| auth       | header sent                                  | used for                        |
|------------|----------------------------------------------|---------------------------------|
| ``none``   | nothing                                      | a backend on this machine       |
| ``basic``  | ``Authorization: Basic base64(user:secret)`` | A1111 ``--api-auth user:pass``, |
|            |                                              | a reverse proxy with a password |
| ``bearer`` | ``Authorization: Bearer secret``             | a reverse proxy with a token    |
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

from pluma.llm.redact import secrets_of

AuthKind = Literal["none", "basic", "bearer"]
AUTH_KINDS: tuple[str, ...] = ("none", "basic", "bearer")


@dataclass(slots=True)
class ImageConnectionProfile:
    id: str
    name: str
    kind: str
    base_url: str
    auth: AuthKind = "none"
    username: str = ""
    default_checkpoint: str = ""
    workflow: dict[str, Any] | None = None
    """ComfyUI: a workflow in API format with ``%placeholder%`` values; None
    uses the default text-to-image workflow shipped with Pluma."""
    timeout: float = 600.0
    """Seconds one generation may take before Pluma gives up on it."""
    secret: str | None = field(default=None, repr=False)
    """Resolved from the secret store at use; never persisted, never logged."""

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header for this profile (empty when none)."""
        if self.auth == "basic" and (self.username or self.secret):
            raw = f"{self.username}:{self.secret or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        if self.auth == "bearer" and self.secret:
            return {"Authorization": f"Bearer {self.secret}"}
        return {}

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a message about this profile: the secret,
        ``user:secret`` and the header value made of them (masked with
        :func:`pluma.llm.redact.mask`)."""
        extra = (f"{self.username}:{self.secret}",) if self.secret and self.username else ()
        return tuple(dict.fromkeys((*secrets_of(self.secret, self.auth_headers()), *extra)).keys())
