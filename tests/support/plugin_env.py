"""Installing plugin executables into a test data directory.

A Python plugin file is installed as an executable whose shebang is this
test run's interpreter (so it imports this checkout's pluma), with the
permissions discovery accepts (0755 files in 0755 folders).
"""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = Path(__file__).parent / "plugins"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"


def plugin_dir(data_dir: Path, axis: str) -> Path:
    folder = data_dir / "plugins" / axis
    folder.mkdir(parents=True, exist_ok=True)
    for path in (data_dir, data_dir / "plugins", folder):
        path.chmod(0o755)
    return folder


def install_python(data_dir: Path, axis: str, name: str, source: Path) -> Path:
    """Copy ``source`` as ``<data_dir>/plugins/<axis>/<name>``, runnable."""
    text = source.read_text()
    if text.startswith("#!"):
        text = text.split("\n", 1)[1]
    target = plugin_dir(data_dir, axis) / name
    target.write_text(f"#!{sys.executable}\n{text}")
    target.chmod(0o755)
    return target


def install_script(data_dir: Path, axis: str, name: str, body: str) -> Path:
    """An executable with ``body`` (a shell or Python script with its own shebang)."""
    target = plugin_dir(data_dir, axis) / name
    target.write_text(body)
    target.chmod(0o755)
    return target
