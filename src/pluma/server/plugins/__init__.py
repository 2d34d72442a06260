"""Subprocess plugins: provider plugins in any language, run as separate
processes over HashiCorp go-plugin's gRPC protocol (see docs/plugins.md).

| module         | what it holds                                                        |
|----------------|----------------------------------------------------------------------|
| ``discovery``  | scanning ``<datadir>/plugins/<axis>/``, refusing unsafe files        |
| ``process``    | one process: launch, handshake, mTLS dial, health, log forwarding, stop |
| ``host``       | every plugin's lifecycle (restart with back-off) and registration    |
| ``chat``       | a plugin behind the chat ``Provider`` contract                       |
| ``image``      | a plugin behind the ``ImageProvider`` contract                       |
| ``check``      | ``pluma plugins check PATH``: handshake and Describe, with a verdict  |
"""

from pluma.plugin import grpc_tuning as _grpc_tuning  # noqa: F401  (before grpc)
from pluma.server.plugins.host import Plugin, PluginHost

__all__ = ["Plugin", "PluginHost"]
