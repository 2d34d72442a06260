"""The contract between the client and a wire protocol.

An adapter owns both directions of one wire format: building the request
from the neutral :class:`~pluma.llm.types.Context`, and turning the response
into :class:`~pluma.llm.events.Event` s through a
:class:`~pluma.llm.writer.StreamWriter`. It does no routing, key lookup or
option checking: the client has done those before ``stream`` is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from pluma.llm.events import Event
from pluma.llm.options import StreamOptions
from pluma.llm.types import Context, Model


@runtime_checkable
class ProtocolAdapter(Protocol):
    """``protocol`` is the registry key models route by; ``stream`` is an async
    generator yielding what its writer returns (None values are skipped), or
    lists of such events (a batch: what one network read produced, handed
    out in order without resuming the generator).

    ``options.api_key`` is already resolved. Failures should be reported with
    ``writer.fail``; an exception that escapes anyway becomes an error event,
    and leaving the generator early (abort, ``aclose``) must release the
    upstream connection, which ``async with`` around the response does.

    An adapter may also define ``check(model, context, options)``, raising
    :class:`~pluma.llm.errors.ConfigurationError` for a request it would
    refuse (a neutral control its protocol lacks, contradicting options).
    ``stream`` still reports those the adapter's way (``start``, then an
    ``error`` event); ``check`` lets a caller that must answer before
    streaming, such as the server's chat routes, refuse at once (a 400).
    """

    @property
    def protocol(self) -> str: ...

    def stream(
        self, model: Model, context: Context, options: StreamOptions
    ) -> AsyncIterator[Event | list[Event] | None]: ...
