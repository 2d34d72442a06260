"""A TLS bridge for plugins whose certificate gRPC's TLS stack refuses.

go-plugin (1.0.x) makes its automatic-mTLS certificate on ECDSA P-521, and
gRPC-Python's BoringSSL does not verify P-521 signatures by default, so the
handshake fails although the certificate is sound. Python's own ``ssl``
(OpenSSL) does verify it; for such a plugin the host terminates mutual TLS
here and lets gRPC dial this bridge over a unix socket in a private 0700
directory, so the plugin's socket still answers only to Pluma.
Written by hand because no library bridges gRPC-Python to another TLS stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import tempfile

from pluma.plugin.handshake import Handshake
from pluma.plugin.tls import SERVER_NAME, Identity, der_to_pem


def needs_bridge(cert_der: bytes) -> bool:
    """True when the plugin's certificate is on a curve BoringSSL refuses."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    key = x509.load_der_x509_certificate(cert_der).public_key()
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp521r1"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class TLSBridge:
    def __init__(self, handshake: Handshake, identity: Identity) -> None:
        assert handshake.server_cert_der is not None
        self._handshake = handshake
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._context.load_verify_locations(cadata=der_to_pem(handshake.server_cert_der).decode())
        self._dir = tempfile.mkdtemp(prefix="pluma-bridge-")
        key_path = os.path.join(self._dir, "client.key")
        cert_path = os.path.join(self._dir, "client.pem")
        with open(key_path, "wb") as f:
            f.write(identity.key_pem)
        with open(cert_path, "wb") as f:
            f.write(identity.cert_pem)
        self._context.load_cert_chain(cert_path, key_path)
        os.unlink(key_path)
        self._context.set_alpn_protocols(["h2"])
        self.path = os.path.join(self._dir, "bridge.sock")
        self._server: asyncio.AbstractServer | None = None

    @property
    def target(self) -> str:
        return f"unix:{self.path}"

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        h = self._handshake
        try:
            if h.network == "unix":
                up_r, up_w = await asyncio.open_unix_connection(
                    h.address, ssl=self._context, server_hostname=SERVER_NAME
                )
            else:
                host, _, port = h.address.rpartition(":")
                up_r, up_w = await asyncio.open_connection(
                    host, int(port), ssl=self._context, server_hostname=SERVER_NAME
                )
        except (OSError, ssl.SSLError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        shutil.rmtree(self._dir, ignore_errors=True)
