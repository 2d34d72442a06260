"""The server's general HTTP client (httpx): model lists, connection tests,
discovery probes, image backends, and the client handed to provider plugins.

Chat streams through the built-in providers go through ``pluma.llm``'s own
aiohttp session instead (see :mod:`pluma.llm.transport.http` for why).
"""

from __future__ import annotations

import asyncio
import weakref

import httpx

from pluma.server.http.hops import add_hop

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def new_http_client() -> httpx.AsyncClient:
    """No overall timeout (profiles set their own), a pool large enough for
    hundreds of concurrent streams, no redirects; every request carries the
    hop header (pluma.server.http.hops)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(None),
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        follow_redirects=False,
        event_hooks={"request": [add_hop]},
    )


def shared_http_client() -> httpx.AsyncClient:
    """A client for code running outside the server (the CLI): one per event
    loop, since connections belong to the loop that opened them."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = new_http_client()
        _clients[loop] = client
    return client
