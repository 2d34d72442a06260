"""gRPC-Python's transport choice for the plugin hop, made before ``grpc``
is imported (importing this module is the whole API).

grpcio (1.6x-1.85) runs client channels and listeners on its EventEngine by
default, which reads and writes sockets on a pool of its own threads. For
the plugin hop that is one more thread handoff per message on each side,
paid on every first token. The older poller, which the thread that waits
for completions drives itself, measured faster here in five interleaved
pairs of ``bench/bench_plugins.py`` runs: time to first text 0.13-0.47 ms
less in every pair (1.19-1.72 ms against 1.34-1.85), 7-28 % more lines/s,
the same CPU per stream.

The switch is grpc's own ``GRPC_EXPERIMENTS`` variable, read once when grpc
starts, so both the host (``pluma.server.plugins``) and the Python kit
(``pluma.plugin``) import this first. A value the user set wins, an empty
one included (grpc's defaults). Plugin processes inherit it; Go ignores it.
Applied only to grpcio versions it was measured on: an experiment grpc no
longer knows makes it log an error at every start.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

EXPERIMENTS = "-event_engine_client,-event_engine_listener"
TESTED_UP_TO = (1, 85)
"""The newest grpcio minor version the switch was measured on."""


def _grpcio_version() -> tuple[int, int] | None:
    try:
        major, minor = metadata.version("grpcio").split(".")[:2]
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def _apply() -> None:
    if "grpc" in sys.modules:
        return  # too late to matter: grpc has read its configuration
    version = _grpcio_version()
    if version is not None and version <= TESTED_UP_TO:
        os.environ.setdefault("GRPC_EXPERIMENTS", EXPERIMENTS)


_apply()
