"""Exceptions of the library.

Two families: :class:`ConfigurationError` for caller mistakes, raised before a
request leaves (unknown protocol, missing key, invalid options), and
:class:`ProviderError` for what an upstream did, which reaches the caller as
the ``error`` of a terminal error event (and from :func:`complete` wrapped in a
:class:`StreamError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pluma.llm.types import AssistantMessage


class LLMError(Exception):
    """Base class of every error this library raises or reports."""


class ConfigurationError(LLMError, ValueError):
    """The call cannot be made as asked; fix the arguments and call again."""


class UnknownProtocolError(ConfigurationError):
    def __init__(self, protocol: str, registered: list[str]) -> None:
        self.protocol = protocol
        self.registered = registered
        names = ", ".join(sorted(registered)) or "none"
        super().__init__(
            f"no adapter is registered for protocol {protocol!r} (registered: {names}); "
            "register one with llm.register(adapter)"
        )


class MissingAPIKeyError(ConfigurationError):
    def __init__(self, provider: str, checked: list[str]) -> None:
        self.provider = provider
        self.checked = checked
        where = ", ".join(checked) if checked else "no environment variable is known for it"
        super().__init__(
            f"no API key for provider {provider!r}: pass StreamOptions(api_key=...) "
            f"or set one of: {where}"
        )


class ProviderError(LLMError):
    """An upstream failure: an HTTP error status, a refused or cut connection, a
    timeout, a malformed or error-bearing stream.

    ``message`` is the upstream's own words where it gave any. ``status`` is the
    HTTP status when there was one. ``retryable`` tells whether trying again
    later could succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        type: str | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.retry_after = retry_after
        self.retryable = retryable

    def __str__(self) -> str:
        if self.status is not None:
            return f"{self.message} (HTTP {self.status})"
        return self.message


class ContextOverflowError(ProviderError):
    """The prompt (history, system prompt, tools) does not fit the model's
    context window. Recognised from each vendor's wording (see
    :mod:`pluma.llm.overflow`), so a caller can compact the history and retry::

        except llm.StreamError as exc:
            if isinstance(exc.cause, llm.ContextOverflowError):
                ...  # drop or summarise old turns, then call again
    """


class UpstreamTimeout(ProviderError):
    """No bytes within the configured connect, first-byte or idle timeout."""


class AbortedError(LLMError):
    """The stream was aborted by the caller."""

    def __init__(self, message: str = "the request was aborted") -> None:
        super().__init__(message)


class StreamError(LLMError):
    """Raised by :func:`pluma.llm.complete` when a stream ends in error.

    ``message`` is the partial :class:`AssistantMessage` (its ``stop_reason`` is
    ``error`` or ``aborted``), so nothing received is lost; ``cause`` is the
    underlying error.
    """

    def __init__(self, message: AssistantMessage, cause: BaseException | None = None) -> None:
        super().__init__(message.error_message or "the stream failed")
        self.message = message
        self.cause = cause
