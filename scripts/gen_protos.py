#!/usr/bin/env python3
"""Generate the Python code for the plugin contract (``proto/`` →
``src/pluma/plugin/v1/*_pb2.py`` and ``.pyi``) with grpcio-tools.

The generated files are committed so an installed Pluma needs no compiler;
``--check`` regenerates into a temporary directory and fails when the
committed files differ (``tests/plugins/test_proto_current.py`` runs it, so
``make test`` proves them current).

Usage: ``python scripts/gen_protos.py [--check]``
"""

from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_DIR = Path("pluma") / "plugin" / "v1"
OUT = ROOT / "src"


def generate(out: Path) -> list[Path]:
    """Run protoc over every .proto under proto/pluma/plugin/v1 into ``out``;
    returns the generated files, relative to ``out``."""
    from grpc_tools import protoc  # dev dependency: only this script needs it

    protos = sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        *(str(p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed: {' '.join(args)}")
    return sorted(p.relative_to(out) for p in (out / PACKAGE_DIR).glob("*_pb2.py*"))


def main(argv: list[str]) -> int:
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(Path(tmp))
            stale = [
                str(rel)
                for rel in fresh
                if not (OUT / rel).exists()
                or not filecmp.cmp(Path(tmp) / rel, OUT / rel, shallow=False)
            ]
            committed = sorted(p.relative_to(OUT) for p in (OUT / PACKAGE_DIR).glob("*_pb2.py*"))
            extra = [str(p) for p in committed if p not in fresh]
        if stale or extra:
            print(
                "generated plugin code is not current: "
                + ", ".join(stale + extra)
                + "; run `python scripts/gen_protos.py` and commit the result",
                file=sys.stderr,
            )
            return 1
        return 0
    for rel in generate(OUT):
        print(OUT / rel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
