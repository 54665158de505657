"""The relational schema: one for SQLite and PostgreSQL (JSONB there).

Design (the README's architecture section explains it at length):
- ``resource``: the current version of every resource, keyed by a surrogate ``rid``; unique (type, id).
- ``resource_history``: every version ever written (including deletions), for vread and _history.
- one index table per search-parameter type (HAPI / Microsoft style), each row tied to ``rid``, with
  composite B-trees that start with (res_type, param, value); rows exist for current versions only.
- ``idx_compartment``: Patient-compartment membership, for compartment search and $everything.
- ``conditional_lock``: serialises conditional creates on the hash of their normalised criteria.
- ``reindex_state``: checkpoint of the online, resumable reindex.
- ``outbox``: the transactional outbox of documents to deliver (DMP, MSSanté), written in the same transaction as
  the document and drained by ``dui worker`` (:mod:`fhirserver.integrations.outbox`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

RID = BigInteger().with_variant(Integer, "sqlite")
Content = JSON().with_variant(JSONB(), "postgresql")
# Byte-wise ordering on PostgreSQL so that prefix ranges use the B-tree whatever the database locale.
Key = String(512).with_variant(String(512, collation="C"), "postgresql")
Small = String(64).with_variant(String(64, collation="C"), "postgresql")
Name = String(200).with_variant(String(200, collation="C"), "postgresql")

resource = Table(
    "resource",
    metadata,
    Column("rid", RID, primary_key=True, autoincrement=True),
    Column("res_type", Small, nullable=False),
    Column("res_id", Small, nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", DateTime, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Content, nullable=True),
    Index("ux_resource_type_id", "res_type", "res_id", unique=True),
    Index("ix_resource_type_updated", "res_type", "last_updated"),
)

resource_history = Table(
    "resource_history",
    metadata,
    Column("hid", RID, primary_key=True, autoincrement=True),
    Column("rid", RID, ForeignKey("resource.rid", ondelete="CASCADE"), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("res_type", Small, nullable=False),
    Column("res_id", Small, nullable=False),
    Column("last_updated", DateTime, nullable=False),
    Column("method", String(8), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Content, nullable=True),
    Index("ux_history_rid_version", "rid", "version_id", unique=True),
    Index("ix_history_type_updated", "res_type", "last_updated"),
    Index("ix_history_updated", "last_updated"),
)


def _index_table(name: str, *columns: Column[Any], indexes: tuple[tuple[str, ...], ...]) -> Table:
    cols: list[Column[Any]] = [
        Column("rid", RID, ForeignKey("resource.rid", ondelete="CASCADE"), nullable=False),
        Column("res_type", Small, nullable=False),
        Column("param", Small, nullable=False),
        *columns,
    ]
    idx = [Index(f"ix_{name}_{'_'.join(c)}", "res_type", "param", *c, "rid") for c in indexes]
    idx.append(Index(f"ix_{name}_rid", "rid"))
    return Table(name, metadata, *cols, *idx)


idx_string = _index_table(
    "idx_string", Column("value", Key), Column("exact", Key), indexes=(("value",), ("exact",))
)
idx_token = _index_table(
    "idx_token", Column("system", Key), Column("code", Key), Column("text", Key),
    indexes=(("code", "system"), ("system",), ("text",)),
)
idx_date = _index_table(
    "idx_date", Column("low", DateTime), Column("high", DateTime), indexes=(("low", "high"), ("high",))
)
idx_number = _index_table(
    "idx_number", Column("low", Float), Column("high", Float), indexes=(("low", "high"), ("high",))
)
idx_quantity = _index_table(
    "idx_quantity", Column("system", Key), Column("code", Key), Column("low", Float), Column("high", Float),
    indexes=(("code", "low"), ("low",)),
)
idx_reference = _index_table(
    "idx_reference",
    Column("target_type", Small),
    Column("target_id", Small),
    Column("target_version", Small),
    Column("url", Key),
    Column("ident_system", Key),
    Column("ident_value", Key),
    indexes=(("target_id", "target_type"), ("url",), ("ident_value",)),
)
# reverse lookups (_revinclude, _has, chains) go from the target to its sources
Index("ix_idx_reference_target", idx_reference.c.target_type, idx_reference.c.target_id, idx_reference.c.param,
      idx_reference.c.res_type)
idx_uri = _index_table("idx_uri", Column("value", Key), indexes=(("value",),))
idx_composite = _index_table(
    "idx_composite",
    Column("grp", Integer, nullable=False),
    Column("comp", Integer, nullable=False),
    Column("system", Key),
    Column("code", Key),
    Column("text", Key),
    Column("low", Float),
    Column("high", Float),
    Column("dlow", DateTime),
    Column("dhigh", DateTime),
    indexes=(("comp", "code"),),
)
idx_compartment = Table(
    "idx_compartment",
    metadata,
    Column("rid", RID, ForeignKey("resource.rid", ondelete="CASCADE"), nullable=False),
    Column("res_type", Small, nullable=False),
    Column("comp_type", Small, nullable=False),
    Column("comp_id", Small, nullable=False),
    Index("ix_idx_compartment_member", "comp_type", "comp_id", "res_type", "rid"),
    Index("ix_idx_compartment_rid", "rid"),
)

conditional_lock = Table(
    "conditional_lock",
    metadata,
    Column("criteria_hash", String(64), primary_key=True),
)

reindex_state = Table(
    "reindex_state",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("last_rid", RID, nullable=False, default=0),
    Column("done", Boolean, nullable=False, default=False),
    Column("updated", DateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", RID, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # "dmp" | "mssante"
    Column("unique_id", String(200), nullable=False),  # CDA document id: the idempotency key
    Column("target", String(256), nullable=False, default=""),  # MSSanté recipient; "" for the DMP
    Column("document_id", Small, nullable=False),  # DocumentReference id
    Column("document_version", Integer, nullable=False),  # its version when the item was queued
    Column("payload", LargeBinary, nullable=False),  # the CDA document
    Column("meta", JSON, nullable=False),  # XDS metadata etc. (JSON), given to the deliverer
    Column("status", String(16), nullable=False),  # pending | sending | delivered | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_until", DateTime, nullable=True),  # a claim by a worker expires here
    Column("lease_owner", String(64), nullable=True),
    Column("last_error", String(1000), nullable=True),  # codes and messages only, never health data
    Column("remote_id", String(256), nullable=True),
    Column("status_recorded", Boolean, nullable=False, default=False),  # the final status is on the DocumentReference
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    Column("delivered_at", DateTime, nullable=True),
    Index("ux_outbox_kind_unique_target", "kind", "unique_id", "target", unique=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_document", "document_id", "kind"),
)

INDEX_TABLES: dict[str, Table] = {
    "string": idx_string,
    "token": idx_token,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "reference": idx_reference,
    "uri": idx_uri,
    "composite": idx_composite,
    "compartment": idx_compartment,
}

import fhirserver.auth.logins.schema  # noqa: E402,F401  (external logins and invitations)
import fhirserver.auth.schema  # noqa: E402,F401  (the authorization tables, on the same metadata)
