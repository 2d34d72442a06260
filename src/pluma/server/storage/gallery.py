"""The gallery: generated images saved with their parameters.

Where it lives follows the storage backend (:mod:`pluma.server.storage.backend`):
:class:`Gallery`, files in the data dir (the default, described here), or
:class:`~pluma.server.storage.postgres.gallery.PgGallery`, rows of the shared
database, so every instance lists and serves every image. Both answer
:class:`GalleryStore`, asynchronously: the server calls it from its event
loop. The file gallery runs its file work in a thread (``asyncio.to_thread``):
saving fsyncs and reading an image is megabytes, too slow for the loop.

Layout, one pair of files per image in ``<datadir>/images/``::

    20261121T182510123-3f9a1c2b-0.png     the image bytes
    20261121T182510123-3f9a1c2b-0.json    its record (below)

| concern                 | how                                                            |
|-------------------------|----------------------------------------------------------------|
| stable URLs             | the id never changes; ``/api/images/<id>`` serves the bytes,   |
|                         | ``/api/images/<id>/parameters`` the record                     |
| newest first, cheaply   | ids start with a UTC timestamp, so sorting names sorts by time |
| a crash mid-save        | each file is written to a temp name and renamed; the record is |
|                         | written last, so a listed image always has its bytes           |
| path traversal          | ids are checked against :data:`ID_PATTERN` before any lookup   |

Record: ``id``, ``url``, ``parameters_url``, ``mime_type``, ``bytes``,
``created`` (ISO 8601 UTC), ``batch`` (the generation it came from),
``index`` (its place in that batch), ``parameters`` (as used, seed included),
``info`` (backend detail), ``connection`` (``id``, ``name``, ``kind``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pluma.server.errors import PlumaError

if TYPE_CHECKING:  # a type only: storage does not import the image backends
    from pluma.server.images.base import ImageResult

ID_PATTERN = re.compile(r"^\d{8}T\d{9}-[0-9a-f]{8}-\d{1,3}$")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
URL_PREFIX = "/api/images"


class GalleryError(PlumaError):
    """Saving or reading failed; the message names the file and the reason."""

    status = 500
    kind = "api_error"
    code = "storage"


@dataclass(slots=True)
class StoredImage:
    """An image found in the gallery: its record, and its bytes either as a
    file (``path``, the file gallery) or in memory (``data``, the database)."""

    record: dict[str, Any]
    path: Path | None = None
    data: bytes | None = None

    @property
    def mime_type(self) -> str:
        return str(self.record.get("mime_type") or "application/octet-stream")

    def read(self) -> bytes:
        """The image's bytes (a file read for the file gallery)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


class GalleryStore(Protocol):
    """What the routes and the CLI need of a gallery (see the module docstring)."""

    @property
    def description(self) -> str:
        """Where the images are, for messages."""
        ...

    async def save(
        self, result: ImageResult, connection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    async def image(self, image_id: str) -> StoredImage | None: ...

    async def list(self, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]: ...

    async def delete(self, image_id: str) -> bool: ...


def new_records(
    result: ImageResult, connection: dict[str, Any] | None = None
) -> list[tuple[dict[str, Any], bytes]]:
    """The records (and bytes) of a generation's images, with fresh ids that
    sort newest first: the same for every gallery."""
    now = datetime.now(UTC)
    batch = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}"
    batch += "-" + secrets.token_hex(4)
    made = []
    for index, image in enumerate(result.images):
        image_id = f"{batch}-{index}"
        ext = EXTENSIONS.get(image.mime_type, "bin")
        record = {
            "id": image_id,
            "url": f"{URL_PREFIX}/{image_id}",
            "parameters_url": f"{URL_PREFIX}/{image_id}/parameters",
            "file": f"{image_id}.{ext}",
            "mime_type": image.mime_type,
            "bytes": len(image.data),
            "created": now.isoformat().replace("+00:00", "Z"),
            "batch": batch,
            "index": index,
            "parameters": result.parameters,
            "info": result.info,
            "connection": connection or {},
        }
        made.append((record, image.data))
    return made


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Gallery:
    """The file gallery in ``<data_dir>/images`` (see the module docstring):
    synchronous methods for the CLI, async ones (:class:`GalleryStore`) that
    run them in a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "images"
        self.description = str(self.root)

    def _paths(self, image_id: str) -> tuple[Path, Path] | None:
        if not ID_PATTERN.match(image_id):
            return None
        meta = self.root / f"{image_id}.json"
        return meta, self.root

    async def save(
        self, result: ImageResult, connection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.save_sync, result, connection)

    async def image(self, image_id: str) -> StoredImage | None:
        return await asyncio.to_thread(self.get, image_id)

    async def delete(self, image_id: str) -> bool:
        return await asyncio.to_thread(self.delete_sync, image_id)

    def save_sync(
        self, result: ImageResult, connection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Store every image of ``result``; returns their records in order."""
        records: list[dict[str, Any]] = []
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for record, data in new_records(result, connection):
                self.put(record, data)
                records.append(record)
        except OSError as exc:
            raise GalleryError(
                f"cannot save the generated image in {self.root}: {exc.strerror or exc}; "
                "check that the data directory is writable and has space"
            ) from None
        return records

    def put(self, record: dict[str, Any], data: bytes) -> None:
        """Write one image and its record (the record last: a listed image
        always has its bytes)."""
        _write_atomic(self.root / str(record["file"]), data)
        _write_atomic(
            self.root / f"{record['id']}.json",
            json.dumps(record, indent=2, ensure_ascii=False).encode() + b"\n",
        )

    def get(self, image_id: str) -> StoredImage | None:
        """The image with ``image_id``, or None (also for malformed ids)."""
        found = self._paths(image_id)
        if found is None:
            return None
        meta, root = found
        try:
            record = json.loads(meta.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        path = root / str(record.get("file", ""))
        if path.parent != root or not path.is_file():
            return None
        return StoredImage(record, path)

    def ids(self) -> list[str]:
        """Every image id, newest first."""
        try:
            return sorted(
                (p.name[:-5] for p in self.root.glob("*.json") if ID_PATTERN.match(p.name[:-5])),
                reverse=True,
                key=lambda name: (name.rsplit("-", 1)[0], -int(name.rsplit("-", 1)[1])),
            )
        except OSError:
            return []

    def list_sync(self, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records newest first (``limit`` of them after ``offset``), and the total."""
        names = self.ids()
        records = []
        for image_id in names[offset : offset + limit]:
            stored = self.get(image_id)
            if stored is not None:
                records.append(stored.record)
        return records, len(names)

    def delete_sync(self, image_id: str) -> bool:
        stored = self.get(image_id)
        if stored is None:
            return False
        with contextlib.suppress(FileNotFoundError):
            (self.root / f"{image_id}.json").unlink()
        if stored.path is not None:
            with contextlib.suppress(FileNotFoundError):
                stored.path.unlink()
        return True

    # Last in the class: below it, ``list`` would name this method, not the type.
    async def list(self, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return await asyncio.to_thread(self.list_sync, limit, offset)
