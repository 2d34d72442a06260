"""Keeping credentials out of error messages.

Some upstreams quote the key they were sent when they reject it ("Incorrect
API key provided: sk-…"), before the stream or inside it. Error messages go
into events, logs and the server's API responses, so every place where an
upstream's words become an error message masks the call's secrets first:
:func:`pluma.llm.transport.http.open_stream` for HTTP error bodies, and
:class:`pluma.llm.writer.StreamWriter` (given ``secrets``) for everything
that ends a stream.

| what                                   | masked as                      |
|----------------------------------------|--------------------------------|
| the call's API key                     | its first 3 characters + ``…***`` |
| values of credential headers           | the same (a ``Bearer`` prefix  |
| (``authorization``, ``x-api-key``, …)   | is not part of the secret)     |
| anything shorter than 8 characters     | left alone (too short to be a  |
|                                        | key, too likely to be a word)  |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Request headers whose values are credentials (compared lower-cased).
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})

MIN_SECRET_LENGTH = 8


def secrets_of(api_key: str | None, *headers: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets of one call: its key and its credential headers' values."""
    found: list[str] = [api_key] if api_key else []
    for mapping in headers:
        for name, value in mapping.items():
            if name.lower() not in SECRET_HEADERS or not value:
                continue
            if value[:7].lower() == "bearer ":
                value = value[7:].strip()
            found.append(value)
    return tuple(dict.fromkeys(s for s in found if len(s) >= MIN_SECRET_LENGTH))


def carries_credentials(api_key: str | None, *headers: Mapping[str, str]) -> bool:
    """Whether a call sends a key or a credential header at all."""
    return bool(api_key) or any(
        name.lower() in SECRET_HEADERS and value
        for mapping in headers
        for name, value in mapping.items()
    )


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret replaced by a short, recognisable stub."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, secret[:3] + "…***")
    return text
