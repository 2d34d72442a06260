"""The go-plugin handshake, both sides: the environment a host hands a plugin
and the one stdout line a plugin answers with.

HashiCorp go-plugin's protocol (which this follows so a plugin built with
``github.com/hashicorp/go-plugin`` runs unchanged):

* the host starts the executable with a magic-cookie variable set
  (:data:`MAGIC_COOKIE_KEY` = :data:`MAGIC_COOKIE_VALUE`): not a secret, only
  a guard so a plugin run by hand says it is a plugin instead of hanging;
* ``PLUGIN_PROTOCOL_VERSIONS`` lists the app protocol versions the host
  speaks, ``PLUGIN_MIN_PORT`` / ``PLUGIN_MAX_PORT`` bound a tcp listener, and
  ``PLUGIN_CLIENT_CERT`` (PEM) asks for automatic mutual TLS;
* the plugin prints one line,
  ``CORE-VERSION|APP-VERSION|NETWORK-TYPE|NETWORK-ADDR|PROTOCOL|SERVER-CERT``,
  where the last field (optional, may be empty) is its certificate's DER in
  unpadded standard base64, and then serves gRPC at the address.

This module holds only the pure parts (no processes, no sockets), so the
host, the Python plugin kit and ``pluma plugins check`` share one reading of
the protocol.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal

CORE_PROTOCOL_VERSION = 1
"""go-plugin's own protocol version: the first field of the line."""

APP_PROTOCOL_VERSION = 1
"""Pluma's plugin contract version (``proto/pluma/plugin/v1``)."""

MAGIC_COOKIE_KEY = "PLUMA_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "c5f1a7d2e9b84e0f9a3d6b2c1e8f7a40"
"""The cookie a Pluma host sets; a plugin refuses to start without it."""

PARENT_FD_ENV = "PLUMA_PLUGIN_PARENT_FD"
"""The read end of a pipe the host holds open for as long as it lives. The
Python kit exits when it reads end-of-file there, so a plugin does not
outlive a host that was killed (on Linux the host also asks the kernel for
a death signal; this covers the other systems and Go plugins ignore it)."""

HEALTH_SERVICE = "plugin"
"""The service name go-plugin reports as SERVING in ``grpc.health.v1``."""

SHUTDOWN_METHOD = "/plugin.GRPCController/Shutdown"

NetworkType = Literal["unix", "tcp"]


class HandshakeError(Exception):
    """The plugin's first line is not a handshake Pluma can use; the message
    says which field is wrong and what was expected."""


@dataclass(frozen=True, slots=True)
class Handshake:
    core_version: int
    app_version: int
    network: NetworkType
    address: str
    protocol: str
    server_cert_der: bytes | None
    """The plugin's TLS certificate (automatic mutual TLS), or None."""

    @property
    def target(self) -> str:
        """The gRPC target to dial."""
        return f"unix:{self.address}" if self.network == "unix" else self.address


def parse_handshake(line: str) -> Handshake:
    """Read a handshake line, or raise :class:`HandshakeError` saying exactly
    what is wrong with it."""
    text = line.strip()
    if not text:
        raise HandshakeError("the plugin printed an empty line where the handshake was expected")
    parts = text.split("|")
    if len(parts) < 5:
        raise HandshakeError(
            f"the handshake line has {len(parts)} field(s), expected at least 5 "
            f"(CORE|APP|NETWORK-TYPE|NETWORK-ADDR|PROTOCOL): {_clip(text)!r}"
        )
    core, app, network, address, protocol = parts[:5]
    cert_field = parts[5] if len(parts) > 5 else ""
    core_version = _int_field("core protocol version", core)
    if core_version != CORE_PROTOCOL_VERSION:
        raise HandshakeError(
            f"the plugin speaks go-plugin core protocol {core_version}, "
            f"this Pluma speaks {CORE_PROTOCOL_VERSION}"
        )
    app_version = _int_field("app protocol version", app)
    if app_version != APP_PROTOCOL_VERSION:
        raise HandshakeError(
            f"the plugin implements Pluma plugin protocol v{app_version}, this Pluma "
            f"speaks v{APP_PROTOCOL_VERSION}: rebuild the plugin against "
            f"proto/pluma/plugin/v{APP_PROTOCOL_VERSION}"
        )
    if network not in ("unix", "tcp"):
        raise HandshakeError(f"network type {network!r} is not supported (unix or tcp)")
    if not address:
        raise HandshakeError("the handshake line has an empty network address")
    if network == "tcp" and not _loopback(address):
        raise HandshakeError(
            f"the plugin listens on {address!r}: a plugin must listen on 127.0.0.1 "
            "or a unix socket, never on a network other users can reach"
        )
    if protocol != "grpc":
        raise HandshakeError(
            f"the plugin speaks {protocol!r}; Pluma needs go-plugin's 'grpc' protocol "
            "(set GRPCServer in plugin.ServeConfig)"
        )
    cert = None
    if cert_field:
        try:
            cert = base64.b64decode(cert_field + "=" * (-len(cert_field) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise HandshakeError("the server certificate field is not base64") from None
    return Handshake(core_version, app_version, network, address, protocol, cert)  # type: ignore[arg-type]


def format_handshake(network: NetworkType, address: str, cert_der: bytes | None) -> str:
    """The line a plugin prints (without the newline)."""
    cert = base64.b64encode(cert_der).decode().rstrip("=") if cert_der else ""
    return f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc|{cert}"


def _int_field(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise HandshakeError(f"the {name} field is {value!r}, not a number") from None


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return host in ("127.0.0.1", "::1", "localhost")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
