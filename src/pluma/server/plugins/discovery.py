"""Finding plugin executables under ``<datadir>/plugins/<axis>/`` and
refusing the unsafe ones.

A plugin runs with Pluma's rights and receives its API keys, so an
executable (or a directory on its path) that another user can write is a
way in for that user: it is refused with a message saying which path and
what to run, and never started.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Axis = Literal["chat", "image"]
AXES: tuple[Axis, ...] = ("chat", "image")


@dataclass(frozen=True, slots=True)
class Found:
    axis: Axis
    path: Path
    problem: str | None = None
    """Why this plugin is refused, or None when it may run."""

    @property
    def name(self) -> str:
        return self.path.name


def unsafe(path: Path) -> str | None:
    """Why ``path`` must not be trusted (writable by others, or owned by
    someone other than this user or root), or None."""
    if sys.platform == "win32":
        return None
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"{path} is writable by other users (mode {stat.filemode(info.st_mode)}); "
            f"run `chmod go-w {path}`"
        )
    if info.st_uid not in (0, os.getuid()):
        return f"{path} belongs to another user (uid {info.st_uid}); Pluma runs only its own"
    return None


def scan(data_dir: Path) -> list[Found]:
    """Every executable file in ``<data_dir>/plugins/chat`` and ``…/image``,
    sorted by name, each with the reason it is refused if it is."""
    found: list[Found] = []
    root = data_dir / "plugins"
    for axis in AXES:
        folder = root / axis
        if not folder.is_dir():
            continue
        folder_problem = unsafe(root) or unsafe(folder)
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            if not os.access(path, os.X_OK):
                continue  # a README or a data file beside the executables
            found.append(Found(axis, path, folder_problem or unsafe(path)))
    return found
