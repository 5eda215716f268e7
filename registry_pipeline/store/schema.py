"""The registry's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are ISO 8601 UTC text with microseconds (fixed width, so text order is time order).
JSON columns hold canonical JSON text, so what was hashed into the ledger is what is stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    literal_column,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData()

NAME = String(128)
TIME = String(32)
HASH = String(64)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", TIME, nullable=False),
)

catalogs = Table(
    "catalogs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", HASH, nullable=False),
    Column("document", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("loaded_at", TIME, nullable=False),
    Column("loaded_by", String(256), nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("owner", String(256), nullable=False),
    Column("next_version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", TIME, nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("digest", HASH, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("manifest", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("format", Text, nullable=False, server_default=text("'{}'")),
    Column("origin", Text),
    PrimaryKeyConstraint("entry", "number"),
    UniqueConstraint("entry", "digest", name="uq_versions_entry_digest"),
    ForeignKeyConstraint(["entry"], ["entries.name"]),
)

lineage = Table(
    "lineage",
    metadata,
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("upstream_entry", NAME, nullable=False),
    Column("upstream_number", Integer, nullable=False),
    Column("relation", String(32), nullable=False),
    PrimaryKeyConstraint("entry", "number", "upstream_entry", "upstream_number"),
    ForeignKeyConstraint(["entry", "number"], ["versions.entry", "versions.number"]),
    ForeignKeyConstraint(
        ["upstream_entry", "upstream_number"], ["versions.entry", "versions.number"]
    ),
)
Index("ix_lineage_upstream", lineage.c.upstream_entry, lineage.c.upstream_number)

evals = Table(
    "evals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("suite", NAME, nullable=False),
    Column("suite_number", Integer, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("produced_at", TIME, nullable=False),
    Column("recorded_at", TIME, nullable=False),
    Column("recorded_by", String(256), nullable=False),
    ForeignKeyConstraint(["entry", "number"], ["versions.entry", "versions.number"]),
    ForeignKeyConstraint(["suite", "suite_number"], ["versions.entry", "versions.number"]),
)
Index("ix_evals_version", evals.c.entry, evals.c.number)

cards = Table(
    "cards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("fields", Text, nullable=False),
    Column("set_at", TIME, nullable=False),
    Column("set_by", String(256), nullable=False),
    # A card set from a Hugging Face README.md: its Markdown and front matter (JSON).
    Column("body", Text),
    Column("front_matter", Text),
    ForeignKeyConstraint(["entry", "number"], ["versions.entry", "versions.number"]),
)
Index("ix_cards_version", cards.c.entry, cards.c.number)

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("digest", HASH, nullable=False),
    Column("target", String(16), nullable=False),
    Column("requester", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("decided_at", TIME),
    ForeignKeyConstraint(["entry", "number"], ["versions.entry", "versions.number"]),
)
Index("ix_requests_status", requests.c.status)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, nullable=False),
    Column("approver", String(256), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("digest", HASH, nullable=False),
    Column("signature", Text),
    Column("created_at", TIME, nullable=False),
    Column("groups", Text),
    UniqueConstraint("request_id", "approver", name="uq_approvals_request_approver"),
    ForeignKeyConstraint(["request_id"], ["requests.id"]),
)

gate_results = Table(
    "gate_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, nullable=False),
    Column("ledger_seq", BigInteger, nullable=False),
    Column("evaluated_at", TIME, nullable=False),
    Column("name", String(64), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("detail", Text, nullable=False),
    ForeignKeyConstraint(["request_id"], ["requests.id"]),
)

stage_assignments = Table(
    "stage_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("effective_from", TIME, nullable=False),
    Column("effective_to", TIME),
    Column("recorded_at", TIME, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("cause", String(16), nullable=False),
    Column("request_id", Integer),
    Column("approved_by", Text, nullable=False),
    Column("ledger_seq", BigInteger, nullable=False),
    ForeignKeyConstraint(["entry", "number"], ["versions.entry", "versions.number"]),
)
#: The stages one version holds at a time (``core.stages.SINGLE_HOLDER_STAGES``), in the
#: order the shipped index states them.
SINGLE_HOLDERS = ("staging", "production")
_SINGLE_HOLDERS_SQL = ", ".join(f"'{stage}'" for stage in SINGLE_HOLDERS)
#: Partial unique indexes (same SQL on SQLite and PostgreSQL), created by the migrations
#: as DDL so that importing the schema does not load the PostgreSQL dialect.
PARTIAL_UNIQUE_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_stage_single_holder ON stage_assignments "
    f"(entry, stage) WHERE effective_to IS NULL AND stage IN ({_SINGLE_HOLDERS_SQL})",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_stage_one_open_per_version ON stage_assignments "
    "(entry, number) WHERE effective_to IS NULL",
)
Index("ix_stage_entry_stage", stage_assignments.c.entry, stage_assignments.c.stage)


def open_single_holder(assignments: Any) -> ColumnElement[bool]:
    """An open assignment of a single-holder stage, spelled as ``uq_stage_single_holder``
    states it (the stage list as literals, not parameters): SQLite uses a partial index
    only for a query whose WHERE holds the index's own terms, so a holder lookup with it
    reads the one open row instead of every row the entry ever had in that stage."""
    return and_(
        assignments.c.effective_to.is_(None),
        assignments.c.stage.in_([literal_column(f"'{stage}'") for stage in SINGLE_HOLDERS]),
    )


ab_results = Table(
    "ab_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(200), nullable=False),
    Column("entry", NAME, nullable=False),
    Column("control_number", Integer, nullable=False),
    Column("treatment_number", Integer, nullable=False),
    Column("metric", String(128), nullable=False),
    Column("document", Text, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("ended_at", TIME, nullable=False),
    Column("recorded_at", TIME, nullable=False),
    Column("recorded_by", String(256), nullable=False),
    UniqueConstraint("experiment", "entry", "metric", name="uq_ab_experiment_metric"),
    ForeignKeyConstraint(["entry", "control_number"], ["versions.entry", "versions.number"]),
    ForeignKeyConstraint(["entry", "treatment_number"], ["versions.entry", "versions.number"]),
)
Index("ix_ab_treatment", ab_results.c.entry, ab_results.c.treatment_number)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded_at", TIME, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", HASH, nullable=False),
    Column("hash", HASH, nullable=False),
    # How the actor was authenticated (canonical JSON); NULL on events recorded before
    # migration 4, whose hashes do not cover it.
    Column("auth", Text, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("principal", String(256), nullable=False),
    Column("name", String(128), nullable=False),
    Column("secret_sha256", HASH, nullable=False, unique=True),
    Column("created_at", TIME, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("expires_at", TIME, nullable=True),
    Column("revoked_at", TIME, nullable=True),
    Column("revoked_by", String(256), nullable=True),
)
Index("ix_tokens_principal", tokens.c.principal)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", HASH, nullable=False),
    Column("recorded_at", TIME, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("entry", NAME),
    Column("workload", NAME),
    # The signing secret: a receiver checks an HMAC, so the server must keep the key itself
    # (deploy/roles.sql keeps it from the analysts' role).
    Column("secret", Text, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    # Progress: every event up to delivered_seq was delivered (or not selected).
    Column("delivered_seq", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("failing_since", TIME),
    Column("next_attempt_at", TIME),
    Column("changed_at", TIME, nullable=False),
    Column("changed_by", String(256), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("redelivery", Boolean, nullable=False),
    Column("attempted_at", TIME, nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Float, nullable=False),
    Column("error", Text),
    Column("ok", Boolean, nullable=False),
    ForeignKeyConstraint(["webhook_id"], ["webhooks.id"]),
)
Index("ix_webhook_deliveries_webhook", webhook_deliveries.c.webhook_id, webhook_deliveries.c.id)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", TIME, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # Only the SHA-256 of the cookie's secret is stored.
    Column("id_sha256", HASH, primary_key=True),
    # ``login`` while an identity provider's answer is awaited, then ``session``.
    Column("kind", String(16), nullable=False),
    Column("principal", String(256), nullable=False),
    Column("auth", Text, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("expires_at", TIME, nullable=False),
    Column("ended_at", TIME),
)
Index("ix_web_sessions_expires", web_sessions.c.expires_at)
Index("ix_requests_requester", requests.c.requester, requests.c.id)
Index("ix_requests_version", requests.c.entry, requests.c.number)

merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    # The ledger's Merkle tree (RFC 9162) as its complete subtrees: node (level, idx) covers
    # events seq idx * 2**level + 1 .. (idx + 1) * 2**level; level 0 holds the leaf hashes.
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", HASH, nullable=False),
)

# Search indexes, derived from ``versions.params`` and ``evals.metrics`` in the same
# transaction that records them: a version's top-level params as (key, value text) and
# each eval's numeric metrics, so that a search by tag or metric threshold walks an index
# instead of parsing every version's JSON.
version_params = Table(
    "version_params",
    metadata,
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
    PrimaryKeyConstraint("entry", "number", "key"),
    ForeignKeyConstraint(["entry", "number"], ["versions.entry", "versions.number"]),
)
Index("ix_version_params_key_value", version_params.c.key, version_params.c.value)

eval_metrics = Table(
    "eval_metrics",
    metadata,
    Column("eval_id", Integer, nullable=False),
    Column("metric", String(128), nullable=False),
    Column("entry", NAME, nullable=False),
    Column("number", Integer, nullable=False),
    Column("suite", NAME, nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("eval_id", "metric"),
    ForeignKeyConstraint(["eval_id"], ["evals.id"]),
)
Index("ix_eval_metrics_metric_value", eval_metrics.c.metric, eval_metrics.c.value)
Index("ix_stage_version", stage_assignments.c.entry, stage_assignments.c.number)
