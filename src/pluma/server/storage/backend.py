"""The storage axis: where the server keeps everything, chosen once at start.

| backend     | chosen by                          | profiles, active choice | keys                   | conversations | gallery        |
|-------------|------------------------------------|-------------------------|------------------------|---------------|----------------|
| files       | the default                        | JSON files in the data  | OS keyring, or the     | SQLite in the | ``images/`` in |
|             |                                    | dir (atomic, locked)    | 0600 file fallback     | data dir      | the data dir   |
| PostgreSQL  | ``PLUMA_DATABASE_URL`` /           | ``documents`` rows with | ``secrets`` rows,      | ``conversations``, | ``images`` rows |
|             | ``--database-url``                 | a version number        | AES-GCM encrypted with | ``messages``  | (record + bytes) |
|             |                                    |                         | ``PLUMA_SECRET_KEY``   |               |                |

Both hand out objects with the same interfaces (:class:`DocumentStore`, the
conversation store's methods, :class:`~pluma.server.storage.secrets.SecretStore`,
:class:`~pluma.server.storage.gallery.GalleryStore`), so the registries, routes
and CLI never know which one they use.

Sync or async: the gallery is async everywhere. Documents and keys keep
their synchronous calls (the CLI and FastAPI's thread-pool routes use them)
and add async reads for the event loop; on PostgreSQL (``remote``) the server
awaits those at the start of every request
(:meth:`~pluma.server.services.Services.refresh`) and never reads the
database synchronously on its loop. The files stay synchronous underneath:
a ``stat`` and a small local read cost less than a hop to a thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pluma.server.storage.conversations import ConversationStore
from pluma.server.storage.documents import DocumentStore, JsonStore
from pluma.server.storage.secrets import SecretStore, open_secret_store

if TYPE_CHECKING:
    from pluma.server.storage.gallery import GalleryStore
    from pluma.server.storage.postgres import Database


class Storage(Protocol):
    """What a backend provides; see the module table."""

    description: str
    remote: bool
    """True when reads cross the network (see the module docstring)."""

    def document(self, file_name: str) -> DocumentStore: ...

    def gallery(self) -> GalleryStore: ...

    def open_conversations(self) -> ConversationStore: ...

    def open_secrets(self, mode: str) -> SecretStore: ...

    def close(self) -> None: ...


class FileStorage:
    """Files and SQLite in ``data_dir`` (the default, unchanged on disk)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.description = f"files in {self.data_dir}"
        self.remote = False

    def document(self, file_name: str) -> DocumentStore:
        return JsonStore(self.data_dir / file_name)

    def gallery(self) -> GalleryStore:
        from pluma.server.storage.gallery import Gallery

        return Gallery(self.data_dir)

    def open_conversations(self) -> ConversationStore:
        return ConversationStore.open(self.data_dir)

    def open_secrets(self, mode: str) -> SecretStore:
        return open_secret_store(mode, self.data_dir)

    def close(self) -> None:
        return None


class PostgresStorage:
    """One PostgreSQL database shared by every instance."""

    def __init__(self, database: Database, secret_key: str | None) -> None:
        from pluma.server.storage.postgres.database import safe_url

        self.database = database
        self.secret_key = secret_key
        self.description = f"PostgreSQL at {safe_url(database.url)}"
        self.remote = True

    @classmethod
    def open(cls, url: str, secret_key: str | None) -> PostgresStorage:
        """Connect, migrate and check the secret key (raises
        :class:`~pluma.server.storage.postgres.DatabaseError` saying what to fix)."""
        from pluma.server.storage.postgres import Database
        from pluma.server.storage.postgres.secrets import open_box

        database = Database.open(url)
        try:
            open_box(database, secret_key)  # refuse a missing or wrong key at start
        except BaseException:
            database.close()
            raise
        return cls(database, secret_key)

    def document(self, file_name: str) -> DocumentStore:
        from pluma.server.storage.postgres.documents import PgDocumentStore

        return PgDocumentStore(self.database, file_name.removesuffix(".json"))

    def gallery(self) -> GalleryStore:
        from pluma.server.storage.postgres.gallery import PgGallery

        return PgGallery(self.database)

    def open_conversations(self) -> ConversationStore:
        from pluma.server.storage.postgres.conversations import PgConversationStore

        return PgConversationStore(self.database)  # type: ignore[return-value]

    def open_secrets(self, mode: str) -> SecretStore:
        from pluma.server.storage.postgres.secrets import PgSecretStore

        return PgSecretStore(self.database, self.secret_key)

    def close(self) -> None:
        self.database.close()


def open_storage(data_dir: Path, database_url: str | None, secret_key: str | None) -> Storage:
    """The backend the settings choose."""
    if database_url:
        return PostgresStorage.open(database_url, secret_key)
    return FileStorage(data_dir)
