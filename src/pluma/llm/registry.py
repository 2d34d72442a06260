"""AdapterRegistry: protocol key → adapter."""

from __future__ import annotations

import threading

from pluma.llm.adapter import ProtocolAdapter
from pluma.llm.errors import ConfigurationError, UnknownProtocolError


class AdapterRegistry:
    """Adapters by protocol key. Registering a key again replaces the adapter,
    so an application can swap a built-in for its own."""

    def __init__(self, adapters: list[ProtocolAdapter] | None = None) -> None:
        self._adapters: dict[str, ProtocolAdapter] = {}
        self._lock = threading.Lock()
        for adapter in adapters or []:
            self.register(adapter)

    def register(self, adapter: ProtocolAdapter) -> None:
        key = getattr(adapter, "protocol", None)
        if not isinstance(key, str) or not key:
            raise ConfigurationError(
                f"{type(adapter).__name__} has no protocol key: give it a non-empty "
                "`protocol` string attribute"
            )
        if not callable(getattr(adapter, "stream", None)):
            raise ConfigurationError(f"{type(adapter).__name__} has no stream() method")
        with self._lock:
            self._adapters[key] = adapter

    def unregister(self, protocol: str) -> None:
        with self._lock:
            self._adapters.pop(protocol, None)

    def get(self, protocol: str) -> ProtocolAdapter:
        try:
            return self._adapters[protocol]
        except KeyError:
            raise UnknownProtocolError(protocol, list(self._adapters)) from None

    def protocols(self) -> list[str]:
        return sorted(self._adapters)

    def __contains__(self, protocol: object) -> bool:
        return protocol in self._adapters
