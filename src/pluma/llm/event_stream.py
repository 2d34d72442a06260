"""EventStream: what :func:`pluma.llm.stream` returns.

It wraps an adapter's async generator and enforces the stream contract no
matter how the adapter behaves:

* ``start`` comes first and once (inserted if the adapter did not yield one);
* exactly one terminal event, after which iteration ends and the adapter's
  generator is closed (which releases its HTTP connection);
* an exception escaping the adapter becomes an ``error`` event keeping the
  partial message; an adapter that stops without a terminal event gets one;
* ``abort()`` — from the consuming task or any other — ends the stream with
  an ``error`` event whose message has ``stop_reason`` ``aborted``.

There is no queue and no background task: the adapter runs inside the
consumer's ``__anext__``, which keeps per-event overhead to a few attribute
reads. An adapter may yield a list of events (everything one network read
produced); they are handed out one by one without resuming the adapter,
which saves an async hop per event when tokens arrive faster than they are
read. An ``abort()`` that arrives while the consumer is waiting on the
upstream cancels that wait (the consumer task is cancelled and the
cancellation is absorbed here), so abort takes effect at once even while the
upstream is silent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

from pluma.llm.errors import AbortedError, ProviderError, StreamError
from pluma.llm.events import Event
from pluma.llm.types import AssistantMessage, Model


class EventStream:
    """An async iterable of :class:`~pluma.llm.events.Event`.

    Use it with ``async for``, or ``async with`` to be sure the upstream
    connection is released when the block is left; ``await result()`` gives
    the final message (draining the stream if needed).
    """

    __slots__ = (
        "_abort_reason",
        "_batch",
        "_cancel_sent",
        "_delivered",
        "_loop",
        "_message",
        "_pending",
        "_result",
        "_source",
        "_started",
        "_waiting_task",
    )

    def __init__(self, source: AsyncIterator[Event | list[Event] | None], model: Model) -> None:
        self._source: AsyncIterator[Event | list[Event] | None] | None = source
        # Until the adapter shows its message (on its first event) we keep a
        # placeholder so that early failures still report provider and model.
        self._message = AssistantMessage(
            protocol=model.protocol, provider=model.provider, model=model.id
        )
        self._pending: Event | None = None
        # The rest of a list the adapter yielded, last event first (pop()).
        self._batch: list[object] = []
        self._result: Event | None = None
        self._delivered = False  # the terminal event has been handed out
        self._started = False
        self._abort_reason: str | None = None
        self._waiting_task: asyncio.Task[object] | None = None
        self._cancel_sent = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- iteration ---------------------------------------------------------

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        pending = self._pending
        if pending is not None:
            self._pending = None
            if pending is self._result:
                self._delivered = True
            return pending
        result = self._result
        if result is not None:
            if self._delivered:
                raise StopAsyncIteration
            # Ended without the consumer seeing it (aclose from elsewhere, a
            # cancelled consumer): it still gets start (if due) and the end.
            return self._hand_out(result)
        if self._abort_reason is not None:
            return await self._deliver(self._aborted_event())
        batch = self._batch
        if batch:
            # The rest of what one network read produced: no await on the adapter.
            queued = batch.pop()
            if self._started and type(queued) is Event:
                kind = queued.type
                if kind != "start" and kind != "done" and kind != "error":
                    if queued.partial is None:
                        queued.partial = self._message
                    else:
                        self._message = queued.partial
                    return queued
            return await self._checked(queued)
        source = self._source
        assert source is not None
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        # Given the loop (a stream lives on the one it was first read on, as
        # abort() already assumes), current_task() skips its own
        # get_running_loop(), which is most of its cost per event.
        task = asyncio.current_task(loop)
        self._waiting_task = task
        event: object
        try:
            event = await source.__anext__()
            while type(event) is not Event:
                if event is None:
                    event = await source.__anext__()
                elif isinstance(event, list):
                    if event:
                        event.reverse()
                        self._batch = event
                        event = event.pop()
                    else:
                        event = await source.__anext__()
                else:
                    break  # not an Event: reported below
        except StopAsyncIteration:
            event = self._fail(
                ProviderError(
                    "the adapter ended the stream without a terminal event "
                    "(an adapter must finish with writer.done() or writer.fail())"
                )
            )
        except asyncio.CancelledError:
            if not self._absorb_abort_cancel(task):
                # The consumer itself is being cancelled (a timeout around it,
                # shutdown): the adapter is gone, so end the stream as aborted
                # for anyone who reads it later, and let the cancellation go on.
                self._abort_reason = self._abort_reason or "the consuming task was cancelled"
                self._result = self._aborted_event()
                self._source = None
                raise
            event = self._aborted_event()
        except Exception as exc:  # an adapter bug or an unexpected transport failure
            event = self._fail(exc)
        finally:
            self._waiting_task = None
        if self._cancel_sent and self._abort_reason is not None:
            # abort() cancelled us but the adapter swallowed the cancellation
            # (or the event won the race): take the cancel back and end as aborted.
            self._absorb_abort_cancel(task)
            event = self._aborted_event()
        if self._started and type(event) is Event:
            kind = event.type
            if kind != "start" and kind != "done" and kind != "error":
                # Nearly every event: a non-terminal one after start. This is
                # _deliver's branch for it, inlined to save a coroutine per event.
                if event.partial is None:
                    event.partial = self._message
                else:
                    self._message = event.partial
                return event
        return await self._checked(event)

    async def _checked(self, event: object) -> Event:
        """:meth:`_deliver` for one item from the adapter, refusing anything
        but an Event (the hot path above only takes events of type Event)."""
        if not isinstance(event, Event):
            event = self._fail(
                TypeError(
                    f"the adapter yielded {type(event).__name__}, not an llm.Event "
                    "(yield what the StreamWriter returns)"
                )
            )
        return await self._deliver(event)

    async def _deliver(self, event: Event) -> Event:
        """Enforce the contract on one event from the adapter: lazy start,
        ``partial`` on non-terminal events, ``message`` on terminal ones, and
        closing the adapter after the terminal event."""
        if event.type == "done" or event.type == "error":
            if event.message is None:
                event.message = self._message
            else:
                self._message = event.message
            return self._hand_out(await self._finish(event))
        if event.partial is None:
            event.partial = self._message
        else:
            self._message = event.partial
        if not self._started:
            self._started = True
            if event.type != "start":
                self._pending = event
                return Event("start", partial=self._message)
        elif event.type == "start":
            # A second start would break the contract; skip it.
            return await self.__anext__()
        return event

    def _hand_out(self, terminal: Event) -> Event:
        """The terminal event, preceded by ``start`` if that was never sent."""
        if not self._started:
            self._started = True
            self._pending = terminal
            return Event("start", partial=self._message)
        self._delivered = True
        return terminal

    # -- control -----------------------------------------------------------

    def abort(self, reason: str = "the request was aborted") -> None:
        """End the stream with an ``aborted`` error event keeping the content so
        far. Safe to call from any task, or any thread, any number of times;
        a no-op once the stream has ended.

        If the consumer is waiting on the upstream, that wait is cancelled at
        once (the adapter's ``async with`` closes the connection on the way
        out) and the consumer receives the aborted event instead.
        """
        loop = self._loop
        if loop is not None and not _running_in(loop):
            # Another thread (a GUI's Stop button): hand over to the loop.
            loop.call_soon_threadsafe(self.abort, reason)
            return
        if self._result is not None or self._abort_reason is not None:
            return
        self._abort_reason = reason
        task = self._waiting_task
        if task is not None and task is not asyncio.current_task():
            self._cancel_sent = True
            task.cancel()

    async def result(self) -> AssistantMessage:
        """The final message, consuming any events not yet read."""
        while self._result is None:
            await self.__anext__()
        message = self._result.message
        assert message is not None
        return message

    @property
    def terminal(self) -> Event | None:
        """The terminal event, once the stream has ended."""
        return self._result

    async def aclose(self) -> None:
        """Stop now and release the upstream connection. The stream ends as
        aborted if it had not ended yet; iterating afterwards yields that
        terminal event if it was not handed out yet, then stops.

        Called from another task while the consumer is waiting on the
        upstream, it acts as :meth:`abort` (the consumer's wait is cancelled,
        which closes the connection, and it receives the aborted event).
        """
        waiting = self._waiting_task
        if waiting is not None and waiting is not asyncio.current_task():
            self.abort("the stream was closed")
            return
        if self._result is None:
            self._abort_reason = self._abort_reason or "the stream was closed"
            await self._finish(self._aborted_event())

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals ---------------------------------------------------------

    def _absorb_abort_cancel(self, task: asyncio.Task[object] | None) -> bool:
        """True when the cancellation we are handling is the one :meth:`abort`
        sent; it is then taken back so the consumer's task goes on normally.
        A cancellation from elsewhere (a timeout around the consumer, task
        shutdown) is left alone and must propagate."""
        if not self._cancel_sent or task is None:
            return False
        self._cancel_sent = False
        return task.uncancel() == 0

    def _fail(self, error: BaseException) -> Event:
        message = self._message
        message.stop_reason = "error"
        message.error_message = str(error) or type(error).__name__
        return Event("error", message=message, error=error)

    def _aborted_event(self) -> Event:
        reason = self._abort_reason or "the request was aborted"
        message = self._message
        message.stop_reason = "aborted"
        message.error_message = reason
        return Event("error", message=message, error=AbortedError(reason))

    async def _finish(self, event: Event) -> Event:
        self._result = event
        self._batch = []
        source, self._source = self._source, None
        if source is not None:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                # Closing a broken generator must not mask the result.
                with contextlib.suppress(Exception):
                    await aclose()
        return event


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def raise_for_result(stream: EventStream) -> AssistantMessage:
    """The final message of an ended stream, or :class:`StreamError`."""
    event = stream.terminal
    assert event is not None and event.message is not None
    if event.type == "error":
        raise StreamError(event.message, event.error)
    return event.message
