"""Read a SQLite registry's tables as Arrow in a process of its own.

The ADBC SQLite driver reads straight into Arrow, fast, but it bundles its own copy of
SQLite. Two SQLite libraries in one process do not share POSIX file locks (closing a file
descriptor in one drops the other's locks), which can corrupt a WAL database. So the
driver runs only here, in a child process that touches nothing else, and hands the
tables back as Arrow IPC files.

Usage: ``python -m registry_pipeline.store.sqlite_arrow DATABASE OUT_DIR TABLE...``.
Writes ``OUT_DIR/<table>.arrow`` and ``OUT_DIR/head.json`` (ledger head and catalog), all
read in one transaction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa


def main(argv: list[str]) -> None:
    """Read the named tables of the database at ``argv[0]`` into ``argv[1]``."""
    import adbc_driver_sqlite.dbapi as adbc

    database, out, names = argv[0], Path(argv[1]), argv[2:]
    conn = adbc.connect(database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT seq, hash, recorded_at FROM ledger_head WHERE id = 1")
        seq, head, head_time = cursor.fetchall()[0]
        cursor.execute("SELECT document, digest FROM catalogs ORDER BY id DESC LIMIT 1")
        found = cursor.fetchall()
        # The driver infers column types from the first batch; one batch per table means
        # a column that starts with NULLs is typed by its first value, not guessed.
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "1000000000"})
        for name in names:
            where = f" WHERE seq <= {int(seq)}" if name == "ledger" else ""
            cursor.execute(f"SELECT * FROM {name}{where}")
            table = cursor.fetch_arrow_table()
            with (
                pa.OSFile(str(out / f"{name}.arrow"), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
        cursor.close()
    finally:
        conn.close()
    (out / "head.json").write_text(
        json.dumps(
            {
                "seq": int(seq),
                "hash": head,
                "time": head_time,
                "catalog": found[0][0] if found else None,
                "catalog_digest": found[0][1] if found else None,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
