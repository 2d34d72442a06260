"""HTTP for image providers: one place that turns transport failures and
error statuses into :class:`ImageBackendError` messages a user can act on.

| what happened                         | code           | message says                          |
|---------------------------------------|----------------|---------------------------------------|
| connection refused / DNS / timeout    | ``unreachable``| nothing answers at URL; is it running |
| 401 / 403                             | ``auth``       | credentials refused; check the profile|
| other 4xx/5xx                         | ``upstream``   | the status and the backend's message  |
| a 200 whose body is not JSON          | ``upstream``   | the backend answered something else   |

Secrets never appear: messages name the URL path, never headers, and every
message is masked with :func:`pluma.llm.redact.mask` (a backend's own error
text may quote the ``Authorization`` header it was sent).
"""

from __future__ import annotations

from typing import Any

import httpx

from pluma.llm.redact import mask, secrets_of
from pluma.server.images.base import ImageBackendError

CONNECT_TIMEOUT = 10.0


def backend_message(response: httpx.Response) -> str:
    """The backend's own explanation from an error body (FastAPI ``detail``,
    ComfyUI ``error``, or the text), shortened."""
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error, errors = payload.get("error"), payload.get("errors")
        if (
            isinstance(error, str)
            and isinstance(errors, str)
            and errors
            and not payload.get("detail")
        ):
            # A1111 (--api) answers every exception as {error: <type>, detail,
            # body, errors: str(exc)}; with no detail, the text is in errors.
            return f"{error}: {errors}"[:300]
        for key in ("detail", "error", "message", "errors"):
            value = payload.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("type")
            if value:
                return str(value)[:300]
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase


class BackendHTTP:
    """Requests to one backend with its base URL and auth headers."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        label: str,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.label = label
        """How messages name the backend, e.g. ``AUTOMATIC1111``."""
        self.secrets = (*secrets_of(None, headers), *secrets)
        """Masked out of every message (see the module docstring)."""

    def error(self, message: str, code: str = "upstream") -> ImageBackendError:
        """An :class:`ImageBackendError` with the credentials masked out."""
        return ImageBackendError(mask(message, self.secrets), code=code)

    def url(self, path: str) -> str:
        return self.base_url + path

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        read_timeout: float | None = 30.0,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send and return any response (status unchecked); transport failures
        become ``unreachable`` errors."""
        timeout = httpx.Timeout(CONNECT_TIMEOUT, read=read_timeout)
        try:
            return await self.client.request(
                method,
                self.url(path),
                json=json,
                params=params,
                files=files,
                data=data,
                headers=self.headers,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise self.error(
                f"{self.label} at {self.base_url} did not answer {method} {path} in time "
                f"({type(exc).__name__}); check that it is running and not overloaded",
                code="unreachable",
            ) from None
        except httpx.TransportError as exc:
            raise self.error(
                f"cannot reach {self.label} at {self.base_url} ({type(exc).__name__}: {exc}); "
                "check that it is running and that the connection's URL is right",
                code="unreachable",
            ) from None

    def check(self, response: httpx.Response, path: str) -> None:
        """Raise for an error status (401/403 → ``auth``)."""
        if response.is_success:
            return
        if response.status_code in (401, 403):
            raise ImageBackendError(
                f"{self.label} at {self.base_url} refused the credentials "
                f"(HTTP {response.status_code} on {path}); check the connection's "
                "authentication settings and its username/password or token",
                code="auth",
            )
        raise self.error(
            f"{self.label} answered HTTP {response.status_code} on {path}: "
            f"{backend_message(response)}",
            code="upstream",
        )

    @staticmethod
    def json_of(response: httpx.Response, label: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ImageBackendError(
                f"{label} answered {path} with something that is not JSON; "
                "is the connection's URL pointing at the right server?",
                code="upstream",
            ) from None

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = await self.send("GET", path, params=params)
        self.check(response, path)
        return self.json_of(response, self.label, path)
