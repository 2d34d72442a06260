"""``GET /api/plugins``: the subprocess plugins this server runs, and the
start-up hook that discovers and starts them (and stops them at shutdown).

Each entry: name, axis (chat or image), path, the compat/kind it registered,
version, state (running, restarting, failed, stopped) and the reason when it
is not running. Plugins that are refused or failed are also listed among
``/api/health``'s problems.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from pluma.server.plugins import PluginHost
from pluma.server.state import ServerState, get_state

router = APIRouter(tags=["plugins"])

EXTRAS_KEY = "plugins"


def host_of(state: ServerState) -> PluginHost | None:
    host = state.extras.get(EXTRAS_KEY)
    return host if isinstance(host, PluginHost) else None


async def startup(state: ServerState) -> None:
    host = PluginHost(state.settings.data_dir, report=state.problems.append)
    state.extras[EXTRAS_KEY] = host
    await host.start()


async def shutdown(state: ServerState) -> None:
    host = host_of(state)
    if host is not None:
        await host.stop()


@router.get("/api/plugins")
async def list_plugins(state: ServerState = Depends(get_state)) -> dict[str, Any]:
    host = host_of(state)
    return {
        "plugins": host.listing() if host is not None else [],
        "directory": str(state.settings.data_dir / "plugins"),
    }
