"""The storage seam: what interactions need from a database, independent of SQL.

Interactions call a :class:`Session` obtained from ``Repository.session(write=…)``; one session is one database
transaction, so a transaction Bundle is atomic by construction.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fhirserver.search.parse import SearchQuery


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource as stored (``content`` carries ``id`` and ``meta``; None when deleted)."""

    rid: int
    res_type: str
    res_id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any] | None
    method: str = ""


@dataclass
class Page:
    """One page of search results with the cursors of its neighbours."""

    matches: list[StoredResource]
    includes: list[StoredResource] = field(default_factory=list)
    next_cursor: str | None = None
    prev_cursor: str | None = None
    total: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class HistoryPage:
    entries: list[StoredResource]
    next_cursor: str | None = None
    total: int | None = None


class Session(Protocol):
    def read(self, res_type: str, res_id: str, *, for_update: bool = False) -> StoredResource | None: ...
    def vread(self, res_type: str, res_id: str, version_id: int) -> StoredResource | None: ...
    def create(self, res_type: str, content: dict[str, Any], res_id: str) -> StoredResource: ...
    def update(self, current: StoredResource, content: dict[str, Any]) -> StoredResource: ...
    def delete(self, current: StoredResource) -> StoredResource: ...
    def lock(self, key: str) -> None: ...
    def search(self, query: SearchQuery) -> Page: ...
    def search_ids(self, query: SearchQuery, limit: int) -> list[StoredResource]: ...
    def history(self, res_type: str | None, res_id: str | None, *, since: datetime | None,
                at: tuple[datetime, datetime] | None, count: int, cursor: str | None) -> HistoryPage: ...


class Repository(Protocol):
    def session(self, *, write: bool) -> AbstractContextManager[Session]: ...
