"""The gallery's one suite, run against both storage backends: the files in
the data dir and a real PostgreSQL (a throwaway cluster the tests start).
Whatever the backend, images come back newest first with their records and
their exact bytes, ids and URLs are stable, and deleting removes both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.fake_a1111 import png
from tests.support.postgres import Cluster

from pluma.server.images import GeneratedImage, ImageResult
from pluma.server.storage.gallery import Gallery, GalleryError, GalleryStore


@pytest.fixture(params=["files", "postgres"])
async def gallery(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GalleryStore]:
    if request.param == "files":
        yield Gallery(tmp_path)
        return
    from pluma.server.storage.postgres import Database
    from pluma.server.storage.postgres.gallery import PgGallery

    cluster: Cluster = request.getfixturevalue("pg_cluster")
    database = Database.open(cluster.database())
    try:
        yield PgGallery(database)
    finally:
        database.close()


JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


async def test_images_come_back_newest_first_with_records_and_bytes(
    gallery: GalleryStore,
) -> None:
    first = await gallery.save(
        ImageResult([GeneratedImage(png(8, 8))], {"prompt": "a", "seed": 1}), {"name": "x"}
    )
    second = await gallery.save(
        ImageResult(
            [GeneratedImage(png(16, 8)), GeneratedImage(JPEG, "image/jpeg")],
            {"prompt": "b", "seed": 2},
        ),
    )
    records, total = await gallery.list()
    assert total == 3
    assert [r["id"] for r in records] == [second[0]["id"], second[1]["id"], first[0]["id"]]
    assert records[2]["connection"] == {"name": "x"}
    assert records[0]["url"] == f"/api/images/{second[0]['id']}"
    page, total = await gallery.list(limit=1, offset=1)
    assert [r["id"] for r in page] == [second[1]["id"]] and total == 3
    stored = await gallery.image(second[1]["id"])
    assert stored is not None and stored.mime_type == "image/jpeg"
    assert stored.read() == JPEG
    assert stored.record["parameters"] == {"prompt": "b", "seed": 2}
    assert stored.record["bytes"] == len(JPEG)
    again = await gallery.image(second[0]["id"])
    assert again is not None and again.read() == png(16, 8)


async def test_unknown_and_malformed_ids_are_not_found(gallery: GalleryStore) -> None:
    assert await gallery.image("../../etc/passwd") is None
    assert await gallery.image("20990101T000000000-00000000-0") is None
    assert not await gallery.delete("20990101T000000000-00000000-0")
    assert await gallery.list() == ([], 0)


async def test_deleting_removes_the_record_and_the_bytes(gallery: GalleryStore) -> None:
    saved = await gallery.save(ImageResult([GeneratedImage(png(8, 8))] * 2, {"seed": 3}))
    assert await gallery.delete(saved[0]["id"])
    assert await gallery.image(saved[0]["id"]) is None
    records, total = await gallery.list()
    assert [r["id"] for r in records] == [saved[1]["id"]] and total == 1
    assert not await gallery.delete(saved[0]["id"])


def test_the_file_gallery_keeps_todays_layout(tmp_path: Path) -> None:
    gallery = Gallery(tmp_path)
    [record] = gallery.save_sync(ImageResult([GeneratedImage(png(8, 8))], {"seed": 1}))
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == [f"{record['id']}.json", f"{record['id']}.png"]
    assert (tmp_path / "images" / record["file"]).read_bytes() == png(8, 8)
    assert not list(tmp_path.glob("images/.*.tmp"))


def test_a_file_gallery_that_cannot_save_says_where_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "images").write_text("not a directory")
    with pytest.raises(GalleryError) as err:
        Gallery(tmp_path).save_sync(ImageResult([GeneratedImage(png(8, 8))], {"seed": 1}))
    assert str(tmp_path / "images") in str(err.value)
    assert "writable" in str(err.value)
