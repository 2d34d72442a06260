"""The gallery in PostgreSQL: every instance on the database lists and
serves every image, whichever instance generated it.

One row of ``images`` per image (migration 4): the record as JSONB (the
same record the file gallery writes, ids and URLs included) and the bytes as
``bytea`` (why not large objects: see
:mod:`pluma.server.storage.postgres.database`). A generation's images are
saved in one transaction, so a listed image always has its bytes; listing
reads only the records, never the bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from pluma.server.storage.gallery import ID_PATTERN, StoredImage, new_records
from pluma.server.storage.postgres.database import Database, safe_url

if TYPE_CHECKING:  # a type only: storage does not import the image backends
    from pluma.server.images.base import ImageResult

Conn = psycopg.AsyncConnection[Any]


class PgGallery:
    """The :class:`~pluma.server.storage.gallery.GalleryStore` on ``database``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.description = f"images in PostgreSQL at {safe_url(database.url)}"

    async def save(
        self, result: ImageResult, connection: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        made = new_records(result, connection)

        async def insert(conn: Conn) -> None:
            await _insert(conn, made)

        await self.database.run(insert)
        return [record for record, _ in made]

    def put_sync(self, items: list[tuple[dict[str, Any], bytes]]) -> None:
        """Store records and bytes as they are, ids included (``pluma storage
        migrate``); one transaction."""

        async def insert(conn: Conn) -> None:
            await _insert(conn, items)

        self.database.run_sync(insert)

    async def image(self, image_id: str) -> StoredImage | None:
        if not ID_PATTERN.match(image_id):
            return None

        async def read(conn: Conn) -> StoredImage | None:
            cur = await conn.execute("SELECT record, data FROM images WHERE id = %s", (image_id,))
            row = await cur.fetchone()
            return None if row is None else StoredImage(dict(row[0]), data=bytes(row[1]))

        return await self.database.run(read)

    async def list(self, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        async def read(conn: Conn) -> tuple[list[dict[str, Any]], int]:
            cur = await conn.execute(
                "SELECT record FROM images ORDER BY batch DESC, position LIMIT %s OFFSET %s",
                (limit, offset),
            )
            records = [dict(record) for (record,) in await cur.fetchall()]
            cur = await conn.execute("SELECT COUNT(*) FROM images")
            row = await cur.fetchone()
            return records, int(row[0]) if row else 0

        return await self.database.run(read)

    async def delete(self, image_id: str) -> bool:
        async def remove(conn: Conn) -> bool:
            cur = await conn.execute("DELETE FROM images WHERE id = %s", (image_id,))
            return cur.rowcount > 0

        return await self.database.run(remove)


async def _insert(conn: Conn, items: list[tuple[dict[str, Any], bytes]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO images (id, batch, position, mime_type, record, data)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    record["id"],
                    record["batch"],
                    int(record["index"]),
                    record["mime_type"],
                    Jsonb(record),
                    data,
                )
                for record, data in items
            ],
        )
