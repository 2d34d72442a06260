"""TLS to the upstream: certifi's CA bundle by default, ``SSL_CERT_FILE`` for
a private CA, and an untrusted certificate reported at once (retrying cannot
fix it) with what to do about it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme

from pluma import llm
from pluma.llm.options import StreamOptions
from pluma.llm.transport import default
from pluma.llm.transport.http import close_shared_session, open_stream, read_sse

BODY = b"data: one\n\ndata: two\n\n"
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def fresh_tls_settings() -> Iterator[None]:
    """The CA bundle is read once per process; these tests change it."""
    default._ssl_context.cache_clear()
    yield
    default._ssl_context.cache_clear()


@pytest.fixture
async def tls_url(ca: trustme.CA) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client refused our certificate
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()
        await close_shared_session()


async def fetch(url: str) -> list[str]:
    options = StreamOptions(max_retries=2)
    async with open_stream(url, headers={}, body={}, options=options) as response:
        return [e.data async for e in read_sse(response, options.timeouts)]


async def test_an_untrusted_certificate_is_reported_without_retrying(
    tls_url: str, fresh_tls_settings: None
) -> None:
    with pytest.raises(llm.ProviderError) as info:
        await fetch(tls_url)
    message = str(info.value)
    assert "TLS certificate of https://127.0.0.1:" in message
    assert "is not trusted" in message and "SSL_CERT_FILE" in message
    assert not info.value.retryable


async def test_ssl_cert_file_adds_a_private_ca(
    tls_url: str,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_tls_settings: None,
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert await fetch(tls_url) == ["one", "two"]
