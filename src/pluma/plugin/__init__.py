"""Pluma plugins: write a chat or image provider as a separate executable.

A Python plugin is the seed's ``Provider`` (or ``ImageProvider``) class plus
one call::

    from pluma.plugin import serve_chat

    class EchoProvider:
        def __init__(self, profile, http): ...
        ...

    if __name__ == "__main__":
        serve_chat(EchoProvider, id="echo", display_name="Echo")

The executable speaks HashiCorp go-plugin's gRPC protocol and the contract
in ``proto/pluma/plugin/v1`` (generated code in :mod:`pluma.plugin.v1`), so a
plugin may equally be written in Go with ``github.com/hashicorp/go-plugin``
or in any language with gRPC. See docs/plugins.md.
"""

from pluma.plugin import grpc_tuning as _grpc_tuning  # noqa: F401  (before grpc)
from pluma.plugin.errors import PluginError
from pluma.plugin.handshake import (
    APP_PROTOCOL_VERSION,
    CORE_PROTOCOL_VERSION,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
)
from pluma.plugin.serve import serve_chat, serve_image

__all__ = [
    "APP_PROTOCOL_VERSION",
    "CORE_PROTOCOL_VERSION",
    "MAGIC_COOKIE_KEY",
    "MAGIC_COOKIE_VALUE",
    "PluginError",
    "serve_chat",
    "serve_image",
]
