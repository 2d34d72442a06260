"""``pluma plugins check PATH``: run one plugin's handshake and ``Describe``
and say exactly what is wrong, step by step, without a server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pluma.plugin.tls import new_identity
from pluma.server.plugins.discovery import AXES, Axis, unsafe
from pluma.server.plugins.host import Description, describe
from pluma.server.plugins.process import HANDSHAKE_TIMEOUT, PluginStartError, launch


@dataclass(slots=True)
class Step:
    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Verdict:
    steps: list[Step]
    axis: Axis | None = None
    description: Description | None = None

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def guess_axis(path: Path) -> Axis | None:
    parent = path.parent.name
    return parent if parent in AXES else None


def _not_runnable(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} is not a file"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable: run `chmod 755 {path}`"
    return None


async def check(
    path: Path, axis: Axis | None = None, handshake_timeout: float = HANDSHAKE_TIMEOUT
) -> Verdict:
    """Every step a host takes with ``path``, stopping at the first failure."""
    steps: list[Step] = []
    verdict = Verdict(steps)
    not_runnable = _not_runnable(path)
    if not_runnable is not None:
        steps.append(Step("file", False, not_runnable))
        return verdict
    problem = unsafe(path) or unsafe(path.parent)
    steps.append(Step("permissions", problem is None, problem or "only its owner can change it"))
    try:
        running = await launch(
            path,
            name=path.name,
            identity=new_identity(),
            parent_fd=None,
            handshake_timeout=handshake_timeout,
        )
    except PluginStartError as exc:
        steps.append(Step("handshake", False, str(exc)))
        return verdict
    try:
        h = running.handshake
        steps.append(
            Step(
                "handshake",
                True,
                f"core v{h.core_version}, app v{h.app_version}, {h.network} {h.address}, "
                + (
                    "mutual TLS"
                    if running.mtls
                    else "no TLS (the plugin ignored PLUGIN_CLIENT_CERT)"
                ),
            )
        )
        steps.append(Step("health", True, "grpc.health.v1 reports 'plugin' SERVING"))
        errors: list[str] = []
        for candidate in [axis] if axis else list(AXES):
            try:
                verdict.description = await describe(running, candidate)
                verdict.axis = candidate
                break
            except PluginStartError as exc:
                errors.append(str(exc))
        d = verdict.description
        if d is None:
            steps.append(Step("describe", False, "; ".join(errors)))
        else:
            field = "compat" if verdict.axis == "chat" else "kind"
            steps.append(
                Step(
                    "describe",
                    True,
                    f"{verdict.axis} plugin, {field} {d.key!r} ({d.display_name}), "
                    f"version {d.version or '?'}, capabilities: {', '.join(d.capabilities) or 'none'}",
                )
            )
    finally:
        await running.stop()
    code = running.process.returncode
    steps.append(
        Step("shutdown", True, f"stopped ({running.exit_description()})")
        if code is not None
        else Step("shutdown", False, "the plugin did not exit after Shutdown and SIGTERM")
    )
    return verdict
