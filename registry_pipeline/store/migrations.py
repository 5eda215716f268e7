"""Versioned schema migrations: named functions, each applied in a transaction with its record.

Add a migration by appending to :data:`MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, select, text

from registry_pipeline.store import schema


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One schema step."""

    version: int
    name: str
    apply: Callable[[Connection], None]


LATER_TABLES = {
    "schema_migrations",
    "ab_results",
    "tokens",
    "webhooks",
    "webhook_deliveries",
    "leases",
    "web_sessions",
    "merkle_nodes",
    "version_params",
    "eval_metrics",
}


def _create_core_schema(conn: Connection) -> None:
    tables = [t for t in schema.metadata.sorted_tables if t.name not in LATER_TABLES]
    schema.metadata.create_all(conn, tables=tables)
    for statement in schema.PARTIAL_UNIQUE_INDEXES:
        conn.execute(text(statement))


def _formats_origins_and_ab_results(conn: Connection) -> None:
    """Detected artifact formats and import origins on versions; A/B test evidence."""
    present = {c["name"] for c in inspect(conn).get_columns("versions")}
    if "format" not in present:
        conn.execute(text("ALTER TABLE versions ADD COLUMN format TEXT NOT NULL DEFAULT '{}'"))
    if "origin" not in present:
        conn.execute(text("ALTER TABLE versions ADD COLUMN origin TEXT"))
    schema.ab_results.create(conn, checkfirst=True)
    for index in schema.ab_results.indexes:
        index.create(conn, checkfirst=True)


def _card_markdown(conn: Connection) -> None:
    """Cards set from a Hugging Face README.md keep its Markdown body and front matter."""
    present = {c["name"] for c in inspect(conn).get_columns("cards")}
    for column in ("body", "front_matter"):
        if column not in present:
            conn.execute(text(f"ALTER TABLE cards ADD COLUMN {column} TEXT"))


def _identity(conn: Connection) -> None:
    """Ledger events record how their actor was authenticated; registry tokens."""
    present = {c["name"] for c in inspect(conn).get_columns("ledger")}
    if "auth" not in present:
        conn.execute(text("ALTER TABLE ledger ADD COLUMN auth TEXT"))
    schema.tokens.create(conn, checkfirst=True)
    for index in schema.tokens.indexes:
        index.create(conn, checkfirst=True)


def _approver_groups(conn: Connection) -> None:
    """An approval records the approver's identity-provider groups when they decided."""
    present = {c["name"] for c in inspect(conn).get_columns("approvals")}
    if "groups" not in present:
        conn.execute(text("ALTER TABLE approvals ADD COLUMN groups TEXT"))


def _webhooks(conn: Connection) -> None:
    """Webhook subscriptions with their delivery progress, every delivery attempt, and the
    lease that keeps one dispatcher per database."""
    for table in (schema.webhooks, schema.webhook_deliveries, schema.leases):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _web_sessions(conn: Connection) -> None:
    """Web UI sessions (only their secrets' hashes), and the indexes its pages read by."""
    schema.web_sessions.create(conn, checkfirst=True)
    for index in (*schema.web_sessions.indexes, *schema.requests.indexes):
        index.create(conn, checkfirst=True)


def _merkle_tree(conn: Connection) -> None:
    """The ledger's Merkle tree, built over every event recorded so far."""
    from registry_pipeline.store import merkle

    schema.merkle_nodes.create(conn, checkfirst=True)
    t = schema.ledger
    hashes = conn.execute(select(t.c.hash).order_by(t.c.seq)).scalars()
    merkle.rebuild(conn, hashes)


def _search_indexes(conn: Connection) -> None:
    """Versions searchable by params and eval metrics from indexes; stages by version."""
    from registry_pipeline.store import search

    for table in (schema.version_params, schema.eval_metrics):
        table.create(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    for index in schema.stage_assignments.indexes:
        index.create(conn, checkfirst=True)
    search.rebuild(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="create core schema", apply=_create_core_schema),
    Migration(
        version=2,
        name="formats, origins and A/B results",
        apply=_formats_origins_and_ab_results,
    ),
    Migration(version=3, name="card Markdown and front matter", apply=_card_markdown),
    Migration(version=4, name="authenticated identity and tokens", apply=_identity),
    Migration(version=5, name="approver groups", apply=_approver_groups),
    Migration(version=6, name="webhooks and their deliveries", apply=_webhooks),
    Migration(version=7, name="web sessions", apply=_web_sessions),
    Migration(version=8, name="the ledger's Merkle tree", apply=_merkle_tree),
    Migration(version=9, name="search indexes", apply=_search_indexes),
)
LATEST = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The newest applied migration, 0 for an empty database."""
    if not inspect(conn).has_table("schema_migrations"):
        return 0
    rows = conn.execute(select(schema.schema_migrations.c.version)).scalars().all()
    return max(rows, default=0)


def upgrade(engine: Engine, *, now: str) -> list[Migration]:
    """Apply every pending migration, each in its own transaction with its record.

    Returns:
        The migrations applied (empty when the schema was current).
    """
    applied: list[Migration] = []
    with engine.begin() as conn:
        schema.schema_migrations.create(conn, checkfirst=True)
    for migration in MIGRATIONS:
        with engine.begin() as conn:
            if migration.version <= current_version(conn):
                continue
            migration.apply(conn)
            conn.execute(
                schema.schema_migrations.insert().values(
                    version=migration.version, name=migration.name, applied_at=now
                )
            )
            applied.append(migration)
    return applied
