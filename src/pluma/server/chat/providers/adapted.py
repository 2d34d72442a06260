"""What the built-in providers share: a connection profile bound to one
``pluma.llm`` protocol adapter.

The provider stays thin. It turns the profile and the request into an
:class:`llm.Model` and :class:`llm.StreamOptions` and lets the library do the
wire work, over the server's shared ``httpx.AsyncClient`` so connections are
pooled across requests. ``stream_chat`` (the seed contract's lines) is the
same events encoded with the OpenAI chunk codec, so the event path and the
line path can never disagree.

Keys: the profile's key is the only one used. A remote upstream without one
is a caller mistake reported before any byte leaves (:class:`NoAPIKeyError`);
a loopback upstream may run keyless.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx

from pluma import llm
from pluma.llm.keys import is_local_url
from pluma.server.chat.providers.base import ChatRequest
from pluma.server.errors import PlumaError
from pluma.server.profiles.chat import ConnectionProfile

DEFAULT_MAX_TOKENS = 4096


class NoAPIKeyError(llm.ConfigurationError, PlumaError):
    """The profile points at a remote upstream and has no key (a 401 at the edge)."""

    status = 401
    kind = "authentication_error"
    code = "no_api_key"

    def __init__(self, profile: ConnectionProfile) -> None:
        self.profile_name = profile.name
        super().__init__(
            f"no API key for profile {profile.name} — set one with `pluma keys set {profile.name}` "
            "or in Settings"
        )


class AdapterProvider:
    """Base of the built-in providers; subclasses set ``compat`` and ``protocol``
    and implement ``list_models`` and ``protocol_options``."""

    compat: ClassVar[str]
    protocol: ClassVar[str]
    client: llm.Client | None = None
    """The client to stream through; the connection manager sets the
    server's own (:class:`pluma.server.services.Services`). None: the
    library's module-level functions (a provider built by hand)."""

    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile
        self.http = http

    @property
    def id(self) -> str:
        return self.compat

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(profile={self.profile.name!r}, upstream={self.upstream!r})"

    # -- building the call --------------------------------------------------

    def api_key(self) -> str | None:
        key = self.profile.api_key
        if not key and not is_local_url(self.profile.base_url):
            raise NoAPIKeyError(self.profile)
        return key or None

    def model_for(self, request: ChatRequest) -> llm.Model:
        model_id = request.model or self.profile.default_model
        if not model_id:
            raise llm.ConfigurationError(
                f"no model given and profile {self.profile.name} has no default model — "
                "name one in the request or set the profile's default model"
            )
        return llm.Model(
            id=model_id,
            name=model_id,
            provider=self.compat,
            protocol=self.protocol,
            base_url=self.profile.base_url.rstrip("/"),
            headers=dict(self.profile.headers),
            reasoning=request.reasoning not in (None, "off"),
            max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS,
            input=["text", "image"],  # a relay passes the client's images on; the upstream judges
        )

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        return None

    def options_for(self, request: ChatRequest) -> llm.StreamOptions:
        timeouts = self.profile.timeouts
        return llm.StreamOptions(
            api_key=self.api_key(),
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            reasoning=request.reasoning,
            protocol_options=self.protocol_options(request),
            timeouts=llm.Timeouts(
                connect=timeouts.connect, first_byte=timeouts.first_byte, idle=timeouts.idle
            ),
        )

    # -- the contract -------------------------------------------------------

    def stream_events(self, request: ChatRequest) -> llm.EventStream:
        """Start the upstream call; caller mistakes raise ``llm.ConfigurationError`` here."""
        stream = self.client.stream if self.client is not None else llm.stream
        return stream(self.model_for(request), request.context, self.options_for(request))

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        """The seed contract: ``data: {chunk}`` lines, then ``data: [DONE]``;
        an upstream failure raises :class:`llm.ProviderError` after the lines
        already produced (see :func:`~pluma.server.chat.providers.bridge.lines_for`)."""
        from pluma.server.chat.providers.bridge import lines_for

        model = request.model or self.profile.default_model
        async with contextlib.aclosing(lines_for(self.stream_events(request), model)) as lines:
            async for line in lines:
                yield line

    async def get_json(self, path: str, headers: dict[str, str]) -> object:
        """GET ``{base}{path}`` and decode it; failures raise ``llm.ProviderError``."""
        url = self.profile.base_url.rstrip("/") + path
        timeouts = self.profile.timeouts
        timeout = httpx.Timeout(
            connect=timeouts.connect, read=timeouts.idle, write=30.0, pool=timeouts.connect
        )
        try:
            response = await self.http.get(
                url, headers={**self.profile.headers, **headers}, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise llm.ProviderError(
                f"could not reach {url}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from None
        if response.status_code >= 400:
            raise llm.ProviderError(
                f"{url} answered {response.status_code}: {_upstream_message(response)}",
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise llm.ProviderError(f"{url} did not answer JSON") from None

    async def model_entries(self, headers: dict[str, str]) -> list[dict[str, Any]]:
        """The entries of ``GET {base}/models`` that have a string ``id`` (both
        OpenAI and Anthropic answer ``{"data": [{"id", …}]}``)."""
        body = await self.get_json("/models", headers)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise llm.ProviderError(
                f"{self.upstream}/models did not answer a model list (no 'data' array)"
            )
        return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]


def _upstream_message(response: httpx.Response) -> str:
    """The upstream's own error message where it gave one."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return response.text[:300]
