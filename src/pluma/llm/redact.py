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
| any 8 or more characters of a secret   | ``***`` (or the stub above when|
| (a key minus its last characters, a    | the piece is the secret's      |
| piece of it inside other text)         | beginning)                     |
| anything shorter than 8 characters     | left alone (too short to be a  |
|                                        | key, too likely to be a word)  |

Pieces matter because upstreams and proxies often shorten what they quote
("Incorrect API key provided: sk-abc…wxyz" cuts the middle; others cut the
end), and a key minus a few characters is as good as the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Request headers whose values are credentials (compared lower-cased).
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})

MIN_SECRET_LENGTH = 8
MIN_FRAGMENT = 8
"""The shortest piece of a secret that is masked on its own."""


def secrets_of(api_key: str | None, *headers: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets of one call: its key and its credential headers' values."""
    found: list[str] = [api_key] if api_key else []
    for mapping in headers:
        for name, value in mapping.items():
            if name.lower() not in SECRET_HEADERS or not value:
                continue
            scheme, _, rest = value.partition(" ")
            if scheme.lower() in ("bearer", "basic") and rest.strip():
                value = rest.strip()
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
    """``text`` with each secret, and every piece of one of at least
    :data:`MIN_FRAGMENT` characters, replaced by a short stub (see the module
    table)."""
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        if secret in text:
            text = text.replace(secret, _stub(secret))
        text = _mask_pieces(text, secret)
    return text


def _stub(secret: str) -> str:
    return secret[:3] + "…***"


def _mask_pieces(text: str, secret: str) -> str:
    """Replace every run of ``text`` made of overlapping
    :data:`MIN_FRAGMENT`-character pieces of ``secret``.

    Each piece is looked for with ``str.find`` (a C loop), so the common case
    (no piece present) costs one search per piece and no Python-level scan of
    the text.
    """
    size = MIN_FRAGMENT
    spans: list[tuple[int, int]] = []
    for piece in {secret[i : i + size] for i in range(len(secret) - size + 1)}:
        start = text.find(piece)
        while start != -1:
            spans.append((start, start + size))
            start = text.find(piece, start + 1)
    if not spans:
        return text
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    done = 0
    for start, end in merged:
        parts.append(text[done:start])
        parts.append(_stub(secret) if text.startswith(secret[:size], start) else "***")
        done = end
    parts.append(text[done:])
    return "".join(parts)
