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
from pluma.llm import catalog
from pluma.llm.keys import is_local_url
from pluma.server.chat.providers.base import ChatRequest, refuse_extra
from pluma.server.errors import PlumaError
from pluma.server.http.hops import hop_headers
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
    library's default client (a provider built by hand)."""
    chat_path: ClassVar[str] = ""
    """Where chat goes under :attr:`upstream` (``/chat/completions``), for
    error messages that say which URL was tried."""

    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile
        self.http = http

    @property
    def id(self) -> str:
        return self.compat

    @property
    def upstream(self) -> str:
        """The API root every call goes under (chat and the model list alike)."""
        return self.api_base(self.profile.base_url)

    @staticmethod
    def api_base(base_url: str) -> str:
        """The API root for a profile's base URL as the user typed it;
        subclasses normalise the forms their vendor documents."""
        return base_url.rstrip("/")

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(profile={self.profile.name!r}, upstream={self.upstream!r})"

    # -- building the call --------------------------------------------------

    def api_key(self) -> str | None:
        key = self.profile.api_key
        if not key and not is_local_url(self.upstream):
            raise NoAPIKeyError(self.profile)
        return key or None

    def model_for(self, request: ChatRequest) -> llm.Model:
        model_id = request.model or self.profile.default_model
        if not model_id:
            raise llm.ConfigurationError(
                f"no model given and profile {self.profile.name} has no default model — "
                "name one in the request or set the profile's default model"
            )
        base_url = self.upstream
        # Priced from the catalog when it knows the model at this endpoint,
        # so usage.cost reaches /api/chat and the stored conversation.
        cost = catalog.price_of(model_id, base_url=base_url, provider=self.compat)
        return llm.Model(
            id=model_id,
            name=model_id,
            provider=self.model_provider(),
            protocol=self.protocol,
            base_url=base_url,
            cost=cost if cost is not None else llm.ModelCost(),
            headers={**self.profile.headers, **hop_headers()},
            reasoning=request.reasoning not in (None, "off"),
            max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS,
            input=["text", "image"],  # a relay passes the client's images on; the upstream judges
        )

    def protocol_options(self, request: ChatRequest) -> llm.ProtocolOptions | None:
        return None

    def model_provider(self) -> str:
        """``llm.Model.provider`` of the calls (the adapters detect vendor quirks by it)."""
        return self.compat

    def passthrough(self, request: ChatRequest) -> dict[str, Any]:
        """The client's unmodelled fields to forward verbatim (its protocol is
        this upstream's), else a 400 naming them (see :func:`refuse_extra`).

        :meth:`options_for` calls it for every provider, so fields never cross
        protocols; a subclass whose protocol a client can speak puts what it
        returns in its protocol options' ``extra_body``."""
        if request.protocol != self.protocol:
            refuse_extra(request, self.protocol)
            return {}
        return {**request.extra_optional, **request.extra}

    def options_for(self, request: ChatRequest) -> llm.StreamOptions:
        self.passthrough(request)  # a 400 before anything else when fields cannot cross
        timeouts = self.profile.timeouts
        return llm.StreamOptions(
            api_key=self.api_key(),
            headers=dict(request.extra_headers) if request.protocol == self.protocol else {},
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            reasoning=request.reasoning,
            stop=request.stop,
            top_p=request.top_p,
            top_k=request.top_k,
            seed=request.seed,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            response_format=request.response_format,
            user=request.user,
            metadata=request.metadata,
            parallel_tool_calls=request.parallel_tool_calls,
            protocol_options=self.protocol_options(request),
            timeouts=llm.Timeouts(
                connect=timeouts.connect, first_byte=timeouts.first_byte, idle=timeouts.idle
            ),
        )

    # -- the contract -------------------------------------------------------

    def stream_events(self, request: ChatRequest) -> llm.EventStream:
        """Start the upstream call; caller mistakes raise ``llm.ConfigurationError`` here,
        including what the adapter would refuse (its optional ``check``), so every
        chat route answers them with a 400 rather than an error event."""
        client = self.client if self.client is not None else llm.default_client
        model = self.model_for(request)
        options = self.options_for(request)
        check = getattr(client.registry.get(model.protocol), "check", None)
        if callable(check):
            check(model, request.context, options)
        return client.stream(model, request.context, options)

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
        url = self.upstream + path
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
            # The status is not repeated here: ProviderError's text ends with it.
            raise llm.ProviderError(
                f"GET {url}: {_upstream_message(response)}", status=response.status_code
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
