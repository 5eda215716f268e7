"""Move a registry from one database to another (SQLite to PostgreSQL, say) with the ledger
chain intact: every row copied as is, in one transaction on the target, the chain verified
on the target before it commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, func, select, text

from registry_pipeline.core.ledger import verify_chain
from registry_pipeline.errors import Conflict, RegistryError
from registry_pipeline.store import Store, ledger, schema

#: Tables in foreign-key order; schema_migrations is the target's own, and leases and web
#: sessions belong to the servers of one database.
ORDER = (
    schema.catalogs,
    schema.entries,
    schema.versions,
    schema.version_params,
    schema.lineage,
    schema.evals,
    schema.eval_metrics,
    schema.cards,
    schema.requests,
    schema.approvals,
    schema.gate_results,
    schema.stage_assignments,
    schema.ab_results,
    schema.tokens,
    schema.webhooks,
    schema.webhook_deliveries,
    schema.ledger,
    schema.merkle_nodes,
)
BATCH = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class Copied:
    """What was copied and the head both databases now share."""

    rows: dict[str, int]
    events: int
    head: str


def copy_registry(source: Store, target: Store) -> Copied:
    """Copy every row of ``source`` into the empty registry ``target``.

    Raises:
        Conflict: the target already holds a registry with data.
        RegistryError: the copied chain does not verify (nothing is committed).
    """
    counts: dict[str, int] = {}
    with source.read() as src, target.translate(), target.engine.begin() as dst:
        existing = dst.execute(select(func.count()).select_from(schema.ledger)).scalar_one()
        catalogs = dst.execute(select(func.count()).select_from(schema.catalogs)).scalar_one()
        if existing or catalogs:
            raise Conflict(
                f"{target.url} already holds a registry ({existing} ledger events); "
                "copy into a new, empty database"
            )
        for table in ORDER:
            counts[table.name] = _copy_table(src, dst, table)
        head = ledger.head(src)
        dst.execute(
            schema.ledger_head.update()
            .where(schema.ledger_head.c.id == 1)
            .values(seq=head.seq, hash=head.hash, recorded_at=head.recorded_at)
        )
        if dst.dialect.name == "postgresql":
            _reset_sequences(dst)
        verdict = verify_chain(ledger.events(dst))
        if not verdict.ok or verdict.head != head.hash or verdict.events != head.seq:
            raise RegistryError(
                f"the copied ledger does not verify (event {verdict.broken_at}: "
                f"{verdict.problem}); nothing was written"
            )
    return Copied(rows=counts, events=verdict.events, head=verdict.head)


def _copy_table(src: Connection, dst: Connection, table: Table) -> int:
    total = 0
    query = select(table).order_by(*table.primary_key.columns)
    result = src.execution_options(yield_per=BATCH).execute(query)
    for batch in result.mappings().partitions(BATCH):
        dst.execute(table.insert(), [dict(r) for r in batch])
        total += len(batch)
    return total


def _reset_sequences(dst: Connection) -> None:
    for table in ORDER:
        if "id" in table.c and table.c.id.autoincrement is True:
            dst.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                )
            )
