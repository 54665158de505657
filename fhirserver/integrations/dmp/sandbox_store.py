"""Durable storage of the DMP sandbox: one SQLite file (WAL), so a restarted sandbox keeps its documents.

A registry in miniature (IHE ITI TF-3 §4.2 metadata life cycle): each DocumentEntry version is a row of
``entries`` (entryUUID, logicalID, version, uniqueId, availability status, hash, size, visibility, and the
route-specific representation: the ebRIM ExtrinsicObject for XDS.b, the DocumentReference JSON for PDSm); the
document bytes are in ``documents`` (the repository), keyed by uniqueId; ``events`` counts what happened to each
uniqueId (registered, duplicate, replaced, updated) for the introspection endpoint; ``dmp_states`` holds the TD0.2
state configured per INS.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    entry_uuid TEXT PRIMARY KEY, lid TEXT NOT NULL, version INTEGER NOT NULL, unique_id TEXT NOT NULL,
    patient_id TEXT NOT NULL, status TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL,
    confidentiality TEXT NOT NULL, class_code TEXT NOT NULL, type_code TEXT NOT NULL, title TEXT NOT NULL,
    object_xml BLOB, resource_json TEXT, replaced_by TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
    author_id TEXT NOT NULL DEFAULT '', author_structure TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS entries_unique ON entries (unique_id);
CREATE INDEX IF NOT EXISTS entries_patient ON entries (patient_id, status);
CREATE TABLE IF NOT EXISTS documents (
    unique_id TEXT PRIMARY KEY, repository_id TEXT NOT NULL, mime_type TEXT NOT NULL, hash TEXT NOT NULL,
    size INTEGER NOT NULL, content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, unique_id TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dmp_states (ins TEXT PRIMARY KEY, state TEXT NOT NULL);
"""

DMP_STATES = ("active", "closed", "absent")


@dataclass
class Entry:
    """One DocumentEntry version."""

    entry_uuid: str
    lid: str
    version: int
    unique_id: str
    patient_id: str
    status: str
    hash: str
    size: int
    confidentiality: list[str]
    class_code: str
    type_code: str
    title: str
    object_xml: bytes | None = None
    resource: dict[str, Any] | None = None
    replaced_by: str = ""
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    #: who sent it (VIHF NameID and Identifiant_Structure): they still see it when it is MASQUE_PS
    author_id: str = ""
    author_structure: str = ""


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(row["entry_uuid"], row["lid"], row["version"], row["unique_id"], row["patient_id"],
                 row["status"], row["hash"], row["size"], json.loads(row["confidentiality"]), row["class_code"],
                 row["type_code"], row["title"], row["object_xml"],
                 json.loads(row["resource_json"]) if row["resource_json"] else None, row["replaced_by"],
                 row["created"], row["author_id"], row["author_structure"])


class Store:
    """The sandbox's SQLite store; every public method is one transaction (serialised by a lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)
        columns = {r["name"] for r in self._conn.execute("PRAGMA table_info(entries)")}
        for column in ("author_id", "author_structure"):  # stores written before these columns existed
            if column not in columns:
                self._conn.execute(f"ALTER TABLE entries ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the caller's checks and writes inside it are atomic."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # --- reads -----------------------------------------------------------------------------------------------

    def current(self, unique_id: str) -> Entry | None:
        """The newest version of the entry of ``unique_id``."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM entries WHERE unique_id = ? ORDER BY version DESC LIMIT 1",
                                     (unique_id,)).fetchone()
        return _entry(row) if row else None

    def by_uuid(self, entry_uuid: str) -> Entry | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM entries WHERE entry_uuid = ?", (entry_uuid,)).fetchone()
        return _entry(row) if row else None

    def find(self, patient_id: str, statuses: tuple[str, ...]) -> list[Entry]:
        """The newest version of each entry of a patient whose status is one of ``statuses``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM entries e WHERE patient_id = ? AND version = "
                "(SELECT MAX(version) FROM entries x WHERE x.unique_id = e.unique_id) ORDER BY created, unique_id",
                (patient_id,)).fetchall()
        return [e for e in map(_entry, rows) if e.status in statuses]

    def document(self, unique_id: str) -> tuple[bytes, str] | None:
        with self._lock:
            row = self._conn.execute("SELECT content, mime_type FROM documents WHERE unique_id = ?",
                                     (unique_id,)).fetchone()
        return (bytes(row["content"]), row["mime_type"]) if row else None

    def dmp_state(self, ins: str, default: str = "active") -> str:
        with self._lock:
            row = self._conn.execute("SELECT state FROM dmp_states WHERE ins = ?", (ins,)).fetchone()
        return str(row["state"]) if row else default

    def summary(self) -> list[dict[str, Any]]:
        """For tests: each uniqueId with its current status, version and how often each event happened."""
        with self._lock:
            events = self._conn.execute("SELECT unique_id, kind, COUNT(*) AS n FROM events "
                                        "GROUP BY unique_id, kind").fetchall()
            rows = self._conn.execute("SELECT unique_id, status, version, confidentiality FROM entries e WHERE "
                                      "version = (SELECT MAX(version) FROM entries x "
                                      "WHERE x.unique_id = e.unique_id) ORDER BY unique_id").fetchall()
            stored = {r["unique_id"] for r in self._conn.execute("SELECT unique_id FROM documents")}
        counts: dict[str, dict[str, int]] = {}
        for e in events:
            counts.setdefault(e["unique_id"], {})[e["kind"]] = e["n"]
        return [{"uniqueId": r["unique_id"], "status": r["status"], "version": r["version"],
                 "confidentiality": json.loads(r["confidentiality"]), "stored": r["unique_id"] in stored,
                 "registered": counts.get(r["unique_id"], {}).get("registered", 0),
                 "duplicates": counts.get(r["unique_id"], {}).get("duplicate", 0),
                 "events": counts.get(r["unique_id"], {})} for r in rows]

    # --- writes (inside :meth:`transaction`) ------------------------------------------------------------------

    @staticmethod
    def insert_entry(conn: sqlite3.Connection, e: Entry) -> None:
        conn.execute(
            "INSERT INTO entries (entry_uuid, lid, version, unique_id, patient_id, status, hash, size, "
            "confidentiality, class_code, type_code, title, object_xml, resource_json, replaced_by, created, "
            "author_id, author_structure) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.entry_uuid, e.lid, e.version, e.unique_id, e.patient_id, e.status, e.hash, e.size,
             json.dumps(e.confidentiality), e.class_code, e.type_code, e.title, e.object_xml,
             json.dumps(e.resource) if e.resource is not None else None, e.replaced_by, e.created, e.author_id,
             e.author_structure))

    @staticmethod
    def update_entry(conn: sqlite3.Connection, e: Entry) -> None:
        conn.execute("UPDATE entries SET status = ?, confidentiality = ?, object_xml = ?, resource_json = ?, "
                     "replaced_by = ? WHERE entry_uuid = ?",
                     (e.status, json.dumps(e.confidentiality), e.object_xml,
                      json.dumps(e.resource) if e.resource is not None else None, e.replaced_by, e.entry_uuid))

    @staticmethod
    def insert_document(conn: sqlite3.Connection, unique_id: str, repository_id: str, mime_type: str,
                        content: bytes, digest: str) -> None:
        conn.execute("INSERT INTO documents (unique_id, repository_id, mime_type, hash, size, content) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (unique_id, repository_id, mime_type, digest, len(content),
                                                   content))

    @staticmethod
    def event(conn: sqlite3.Connection, unique_id: str, kind: str) -> None:
        conn.execute("INSERT INTO events (unique_id, kind, at) VALUES (?, ?, ?)",
                     (unique_id, kind, dt.datetime.now(dt.UTC).isoformat()))

    def set_dmp_state(self, ins: str, state: str) -> None:
        if state not in DMP_STATES:
            raise ValueError(f"DMP state must be one of {', '.join(DMP_STATES)}")
        with self.transaction() as conn:
            conn.execute("INSERT INTO dmp_states (ins, state) VALUES (?, ?) "
                         "ON CONFLICT (ins) DO UPDATE SET state = excluded.state", (ins, state))
