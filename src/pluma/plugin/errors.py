"""Errors that cross the plugin boundary: a stable code and one sentence.

A plugin raises :class:`PluginError` (or lets an upstream error through);
the kit turns it into the contract's ``PluginError`` message, and the host
turns that back into the exception the call site already handles
(``pluma.llm.ProviderError`` for chat, ``ImageBackendError`` for images), so
the page shows the plugin's words.
"""

from __future__ import annotations

CODES = ("auth", "unreachable", "rate_limit", "invalid", "not_found", "upstream", "internal")


class PluginError(Exception):
    """A failure a plugin reports with one of :data:`CODES`."""

    def __init__(self, message: str, *, code: str = "upstream", upstream_status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code in CODES else "upstream"
        self.upstream_status = upstream_status


def code_for_status(status: int | None) -> str:
    """The code an upstream HTTP status maps to."""
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limit"
    if status == 404:
        return "not_found"
    if status is not None and 400 <= status < 500:
        return "invalid"
    return "upstream"
