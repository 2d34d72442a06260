"""``GET /api/plugins``: the subprocess plugins this server runs (the host
itself is one of the :class:`~pluma.server.services.Services`, started with
the server and stopped with it).

Each entry: name, axis (chat or image), path, the compat/kind it registered,
version, state (running, restarting, failed, stopped) and the reason when it
is not running. Plugins that are refused or failed are also listed among
``/api/health``'s problems.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from pluma.server.services import Services, get_services

router = APIRouter(tags=["plugins"])


@router.get("/api/plugins")
async def list_plugins(state: Services = Depends(get_services)) -> dict[str, Any]:
    host = state.plugins
    return {
        "plugins": host.listing() if host is not None else [],
        "directory": str(state.settings.data_dir / "plugins"),
    }
