"""Loop detection: a connection whose base URL points back at this server.

Without it one chat request to such a connection becomes a request to
itself, which becomes another, until sockets or the first-byte timeout run
out (a red-team run saw ~1,000 nested requests and 2,000 sockets). So every
request Pluma sends upstream (chat through ``pluma.llm``, and everything on
the server's httpx client: model lists, connection tests, plugins, image
backends) carries a hop header, and the front door refuses a request that
already passed through this server:

| header      | ``Pluma-Hop: <id>[, <id>…]``: the servers a request passed through, |
|             | oldest first; each server appends its own id (random per process)   |
| refusal     | ``508 Loop Detected`` when this server's id is listed (a loop, also |
|             | through other Pluma servers) or :data:`MAX_HOPS` servers are        |
| propagation | the incoming list is kept in a context variable for the request's   |
|             | task, so the upstream call made while serving it appends to it      |

The outer request then fails with the upstream's 508 and its message, which
says what to fix.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

import httpx

HOP_HEADER = "pluma-hop"
MAX_HOPS = 8
INSTANCE = uuid.uuid4().hex[:16]
"""This process's id in the hop header."""

_incoming: ContextVar[tuple[str, ...]] = ContextVar("pluma_hops", default=())


def outgoing() -> str:
    """The hop header value for a request sent while serving this one."""
    return ", ".join((*_incoming.get(), INSTANCE))


def hop_headers() -> dict[str, str]:
    return {HOP_HEADER: outgoing()}


def accept(value: str) -> str | None:
    """Record an incoming hop header; the refusal message when the request
    loops back here (or has passed through too many servers)."""
    hops = tuple(part.strip() for part in value.split(",") if part.strip())
    if INSTANCE in hops:
        return (
            "loop detected: this request already passed through this Pluma server (its "
            f"{HOP_HEADER} header lists it), so a connection's base URL points back at Pluma "
            "itself; point that connection at the real upstream (e.g. "
            "http://127.0.0.1:11434/v1 for Ollama), not at this server"
        )
    if len(hops) >= MAX_HOPS:
        return (
            f"loop detected: this request already passed through {len(hops)} Pluma servers "
            f"(its {HOP_HEADER} header), the most allowed; check where their connections point"
        )
    _incoming.set(hops)
    return None


async def add_hop(request: httpx.Request) -> None:
    """An httpx request event hook: the hop header on every request."""
    request.headers[HOP_HEADER] = outgoing()
