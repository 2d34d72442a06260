"""PostgreSQL storage: everything the server keeps, in one shared database, so
several ``pluma serve`` processes and machines act as one service.

Chosen with ``PLUMA_DATABASE_URL=postgresql://…`` (``--database-url``); the
default (files + SQLite in the data dir) is unchanged. Keys are stored
encrypted with ``PLUMA_SECRET_KEY`` (:mod:`.secrets`): the OS keyring cannot
be shared between machines.

| module            | what it holds                                                   |
|-------------------|-----------------------------------------------------------------|
| ``database``      | the connection pool and the versioned schema migrations         |
| ``documents``     | JSON documents (connection profiles, image connections) with a  |
|                   | version number: the same interface as the file ``JsonStore``    |
| ``conversations`` | the page's history: the same interface as the SQLite store      |
| ``secrets``       | API keys, encrypted with AES-GCM (the ``cryptography`` package) |

Why psycopg 3 with its pool: it is the maintained PostgreSQL driver with
both a synchronous API (the storage interfaces are synchronous, like the
SQLite store they stand beside) and a pool that reconnects by itself after
the database restarts.
"""

from pluma.server.storage.postgres.database import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
