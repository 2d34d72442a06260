"""API keys in PostgreSQL, encrypted with a key only the operator holds.

The OS keyring cannot be shared between machines, so with a database store
the keys live in the ``secrets`` table, each encrypted with AES-256-GCM
(authenticated: a tampered or swapped value fails to decrypt) under a key
derived from ``PLUMA_SECRET_KEY`` with scrypt. The database never holds a key
in clear, nor the operator's secret.

| piece                     | how                                                        |
|---------------------------|------------------------------------------------------------|
| the encryption key        | scrypt(``PLUMA_SECRET_KEY``, a random salt kept in          |
|                           | ``storage_meta``), 32 bytes                                 |
| a stored value            | ``0x01`` ‖ 12-byte random nonce ‖ AES-GCM ciphertext; the   |
|                           | secret's name is the associated data, so a value copied    |
|                           | under another name does not decrypt                        |
| a wrong ``PLUMA_SECRET_KEY`` | found at start by decrypting a known value kept in       |
|                           | ``storage_meta``; the server refuses to start and nothing  |
|                           | is written                                                 |

Reads are cached like the keyring's (see :mod:`pluma.server.storage.secrets`):
a key changed by another process is announced through the profile document,
whose registries then call :meth:`forget`. On the server's event loop the
cache is filled by :meth:`PgSecretStore.prefetch` (awaited, one query for a
registry's keys) when a request starts, so reading a key never blocks it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pluma.server.storage.postgres.database import Database, DatabaseError
from pluma.server.storage.secrets import KEYRING_CACHE_SECONDS, SecretStore

FORMAT = b"\x01"
CHECK_PLAINTEXT = b"pluma secret key check"
MIN_KEY_LENGTH = 16


def _derive(secret_key: str, salt: bytes) -> AESGCM:
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(secret_key.encode())
    return AESGCM(key)


def seal(box: AESGCM, name: str, value: bytes) -> bytes:
    nonce = os.urandom(12)
    return FORMAT + nonce + box.encrypt(nonce, value, name.encode())


def unseal(box: AESGCM, name: str, blob: bytes) -> bytes:
    if blob[:1] != FORMAT or len(blob) < 13:
        raise InvalidTag
    return box.decrypt(blob[1:13], blob[13:], name.encode())


async def _open_box(conn: psycopg.AsyncConnection[Any], secret_key: str) -> AESGCM:
    await conn.execute(
        "INSERT INTO storage_meta (name, value) VALUES ('kdf_salt', %s)"
        " ON CONFLICT (name) DO NOTHING",
        (os.urandom(16),),
    )
    cur = await conn.execute("SELECT value FROM storage_meta WHERE name = 'kdf_salt'")
    row = await cur.fetchone()
    assert row is not None
    box = _derive(secret_key, bytes(row[0]))
    cur = await conn.execute("SELECT value FROM storage_meta WHERE name = 'key_check'")
    check = await cur.fetchone()
    if check is None:
        await conn.execute(
            "INSERT INTO storage_meta (name, value) VALUES ('key_check', %s)",
            (seal(box, "key_check", CHECK_PLAINTEXT),),
        )
        return box
    try:
        unseal(box, "key_check", bytes(check[0]))
    except InvalidTag:
        raise DatabaseError(
            "PLUMA_SECRET_KEY does not match the key this database's API keys were encrypted "
            "with; set the key the other instances use (nothing was read or changed)"
        ) from None
    return box


def open_box(database: Database, secret_key: str | None) -> AESGCM:
    """The cipher for this database's secrets; set up on first use, checked after.

    Raises :class:`DatabaseError` for a missing, short or wrong key, before
    anything is written.
    """
    if not secret_key:
        raise DatabaseError(
            "PLUMA_SECRET_KEY is not set: with a PostgreSQL store, API keys are kept in the "
            "database encrypted with it (the OS keyring is not shared between machines); "
            "set it to a long random value, the same on every instance, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if len(secret_key) < MIN_KEY_LENGTH:
        raise DatabaseError(
            f"PLUMA_SECRET_KEY is too short ({len(secret_key)} characters); use at least "
            f"{MIN_KEY_LENGTH}, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    key = secret_key

    async def work(conn: psycopg.AsyncConnection[Any]) -> AESGCM:
        return await _open_box(conn, key)

    return database.run_sync(work)


class PgSecretStore(SecretStore):
    """Secrets in the ``secrets`` table, encrypted (see the module table)."""

    backend = "PostgreSQL (encrypted with PLUMA_SECRET_KEY)"

    def __init__(
        self,
        database: Database,
        secret_key: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self._box = open_box(database, secret_key)
        self._clock = clock
        self._cache: dict[str, tuple[str | None, float]] = {}

    def _fresh(self, name: str) -> tuple[str | None, float] | None:
        cached = self._cache.get(name)
        if cached is not None and self._clock() - cached[1] < KEYRING_CACHE_SECONDS:
            return cached
        return None

    def _open(self, name: str, blob: bytes) -> str:
        try:
            return unseal(self._box, name, blob).decode()
        except InvalidTag:
            raise DatabaseError(
                f"the stored secret {name!r} does not decrypt with PLUMA_SECRET_KEY (it was "
                "changed outside Pluma, or under another key); set it again"
            ) from None

    def get(self, name: str) -> str | None:
        cached = self._fresh(name)
        if cached is not None:
            return cached[0]

        async def read(conn: psycopg.AsyncConnection[Any]) -> bytes | None:
            cur = await conn.execute("SELECT ciphertext FROM secrets WHERE name = %s", (name,))
            row = await cur.fetchone()
            return None if row is None else bytes(row[0])

        blob = self.database.run_sync(read)
        value = None if blob is None else self._open(name, blob)
        self._cache[name] = (value, self._clock())
        return value

    async def prefetch(self, names: list[str]) -> None:
        """One query for every name not cached (see :meth:`SecretStore.prefetch`)."""
        wanted = [name for name in names if self._fresh(name) is None]
        if not wanted:
            return

        async def read(conn: psycopg.AsyncConnection[Any]) -> dict[str, bytes]:
            cur = await conn.execute(
                "SELECT name, ciphertext FROM secrets WHERE name = ANY(%s)", (wanted,)
            )
            return {str(name): bytes(blob) for name, blob in await cur.fetchall()}

        found = await self.database.run(read)
        now = self._clock()
        for name in wanted:
            blob = found.get(name)
            self._cache[name] = (None if blob is None else self._open(name, blob), now)

    def set(self, name: str, value: str) -> None:
        blob = seal(self._box, name, value.encode())

        async def write(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO secrets (name, ciphertext) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET ciphertext = EXCLUDED.ciphertext",
                (name, blob),
            )

        self.database.run_sync(write)
        self._cache[name] = (value, self._clock())

    def delete(self, name: str) -> None:
        async def remove(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute("DELETE FROM secrets WHERE name = %s", (name,))

        self.database.run_sync(remove)
        self._cache.pop(name, None)

    def forget(self) -> None:
        self._cache.clear()
