"""Huey on SQLite with the durability of the main database.

Huey's SQLite storage keeps SQLite's default ``synchronous=FULL`` in WAL mode: an fsync on
every enqueue, which cost a resident's submission more than all its own writes (a receipt
mail queued per application). ``synchronous=NORMAL`` is what the main database uses: a
commit survives the process crashing; only the last commits can be lost to a power cut,
never the database's integrity. With Redis configured, Huey uses Redis instead.
"""

from __future__ import annotations

import sqlite3

from huey import SqliteHuey as _SqliteHuey
from huey.storage import SqliteStorage as _SqliteStorage


class SqliteStorage(_SqliteStorage):
    def _create_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._create_connection()
        conn.execute("pragma synchronous=1")  # NORMAL, as the main database
        return conn


class SqliteHuey(_SqliteHuey):
    storage_class = SqliteStorage
