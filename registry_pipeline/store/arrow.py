"""Whole store tables as Arrow, read in one transaction, for the analysts' inventory.

SQLite goes through the ADBC driver (Arrow straight from the driver) in a child process
(see :mod:`registry_pipeline.store.sqlite_arrow` for why it must not run in this one);
other backends through SQLAlchemy. The ledger is read up to its recorded head, so every
table agrees with the head the dump records.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Table, select

from registry_pipeline.errors import BadInput, StoreUnavailable
from registry_pipeline.store import Store, catalogs, ledger, loads, schema
from registry_pipeline.store.engine import sqlite_path

#: The store tables the inventory is built from.
INVENTORY_TABLES = (
    "versions",
    "lineage",
    "evals",
    "requests",
    "approvals",
    "gate_results",
    "stage_assignments",
    "ledger",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TableDump:
    """Store tables by name, and the ledger head and catalog they agree with."""

    tables: dict[str, pa.Table]
    head_seq: int
    head_hash: str
    head_time: str
    catalog_document: Mapping[str, Any] | None
    catalog_digest: str | None


def dump_tables(store: Store, names: Sequence[str] = INVENTORY_TABLES) -> TableDump:
    """Read the tables ``names`` whole as Arrow, in one read transaction.

    Raises:
        BadInput: a name is not a store table.
        StoreUnavailable: the database cannot be read.
    """
    tables = [_table(name) for name in names]
    path = sqlite_path(store.url)
    if path is not None:
        return _dump_sqlite(path, tables)
    return _dump_generic(store, tables)


def _table(name: str) -> Table:
    table = schema.metadata.tables.get(name)
    if table is None:
        raise BadInput(f"{name!r} is not a table of the registry store")
    return table


def _arrow_schema(table: Table) -> pa.Schema:
    def kind(column: Any) -> pa.DataType:
        name = type(column.type).__name__
        if name in ("Integer", "BigInteger"):
            return pa.int64()
        if name == "Boolean":
            return pa.bool_()
        return pa.string()

    return pa.schema([pa.field(c.name, kind(c)) for c in table.columns])


def _dump_sqlite(path: Path, tables: Sequence[Table]) -> TableDump:
    with tempfile.TemporaryDirectory(prefix="registry-raw-") as tmp:
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "registry_pipeline.store.sqlite_arrow",
                str(path),
                tmp,
                *(t.name for t in tables),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            last = (child.stderr.strip().splitlines() or ["no message"])[-1]
            raise StoreUnavailable(f"reading {path} for the inventory failed: {last}")
        head = json.loads((Path(tmp) / "head.json").read_text())
        read = {}
        for table in tables:
            with pa.memory_map(str(Path(tmp) / f"{table.name}.arrow")) as source:
                found = pa.ipc.open_file(source).read_all()
            read[table.name] = found.cast(_arrow_schema(table))
    return TableDump(
        tables=read,
        head_seq=int(head["seq"]),
        head_hash=head["hash"],
        head_time=head["time"],
        catalog_document=loads(head["catalog"]) if head["catalog"] else None,
        catalog_digest=head["catalog_digest"],
    )


def _dump_generic(store: Store, tables: Sequence[Table]) -> TableDump:
    with store.read() as conn:
        head = ledger.head(conn)
        found = catalogs.latest_document(conn)
        read = {}
        for table in tables:
            query = select(table)
            if table.name == "ledger":
                query = query.where(table.c.seq <= head.seq)
            rows = conn.execute(query).all()
            columns: list[Sequence[Any]] = (
                list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
            )
            arrow = _arrow_schema(table)
            read[table.name] = pa.table(
                {
                    f.name: pa.array(list(col), f.type)
                    for f, col in zip(arrow, columns, strict=True)
                },
                schema=arrow,
            )
    return TableDump(
        tables=read,
        head_seq=head.seq,
        head_hash=head.hash,
        head_time=head.recorded_at,
        catalog_document=found[1] if found else None,
        catalog_digest=found[0] if found else None,
    )
