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
| ``gallery``       | generated images: records and bytes, one row each               |

Why psycopg 3 with its async pool (``AsyncConnectionPool``): it is the
maintained PostgreSQL driver, its async API lets the server await the
database instead of blocking its event loop (a slow or restarting database
then holds up only the requests that wait on it, never the streams beside
them), and its pool replaces connections broken by a restart by itself. How
the one pool serves the server's loop, its thread pool and the CLI:
:mod:`.database`. The conversation store still uses a small synchronous pool
(:meth:`.database.Database.transaction`) until it moves to the async one.
"""

from pluma.server.storage.postgres.database import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
