"""MLflow's side of the comparison: a long-lived worker that ``bench/run.py`` drives.

Runs in MLflow's own venv (``bench/.venv-mlflow``, created by ``bench/run.py``) and imports
nothing from this project: only the standard library, ``_protocol.py`` and MLflow. The
backend is a SQLite file (``sqlite:///...``) for both tracking and registry, with
``MLFLOW_DISABLE_TELEMETRY=true`` and ``DO_NOT_TRACK=1`` set by the runner.

What it measures, each call timed alone through ``MlflowClient``:

* ``create``: ``create_model_version(name, source, tags={"dataset": ...})`` (metadata
  only: MLflow records the source URI without reading it).
* ``promote``: ``set_registered_model_alias(name, "production", version)``.
* ``resolve``: ``get_model_version_by_alias(name, "production")``.
* ``tag_search``: ``search_model_versions("tags.dataset = 'ds-K'")``, every page.
* ``metric_search`` and ``history``: not supported by MLflow's registry; reported so.

Seeding: MLflow creates its own schema (its migrations, on the first client call) and the
100 registered models through the client; the versions and their tags are then inserted in
bulk with SQL into MLflow's own ``model_versions`` and ``model_version_tags`` tables, rows
shaped after one version MLflow itself created (the client takes about 10 ms a version, too
slow for 100,000); the ``production`` aliases are set through the client. Checked through
the client before timing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import serve, timed, wait_for

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import mlflow
from mlflow import MlflowClient

ENTRIES = 100
PROMOTE_EVERY = 5
UNSUPPORTED = {
    "metric_search": (
        "not supported: search_model_versions filters on name, version, run_id, source_path "
        "and tags only; model versions carry no metrics"
    ),
    "history": (
        "not supported: an alias is one row (registered_model_aliases) overwritten in place; "
        "MLflow records neither who moved it nor when, nor earlier holders"
    ),
    "create_import": "not applicable: ours only (metadata-only import)",
    "resolve_workload": "not applicable: MLflow has no workloads or stacks",
}


def dataset_tag(e: int, n: int) -> str:
    """Same tag values as ours (``worker_ours.dataset_tag``): 1 in 100 per value."""
    return f"ds-{(e * 7919 + n) % 100}"


def _client(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def seed(client: MlflowClient, db: Path, per_entry: int) -> dict[str, Any]:
    """Models through the client; versions and tags in bulk into MLflow's own tables;
    aliases through the client."""
    for e in range(ENTRIES):
        client.create_registered_model(f"model-{e}")
    client.create_model_version("model-0", "file:///template", tags={"dataset": "x"})
    conn = sqlite3.connect(db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    template = dict(conn.execute("SELECT * FROM model_versions").fetchone())
    tag_template = dict(conn.execute("SELECT * FROM model_version_tags").fetchone())
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM model_version_tags")
    conn.execute("DELETE FROM model_versions")
    start_ms = int((time.time() - 30 * 86400) * 1000)
    versions = []
    tags = []
    for n in range(1, per_entry + 1):
        for e in range(ENTRIES):
            at = start_ms + 60_000 + ((n - 1) * ENTRIES + e) * 1000
            source = f"file:///data/model-{e}/{n}"
            versions.append(
                {
                    **template,
                    "name": f"model-{e}",
                    "version": n,
                    "creation_time": at,
                    "last_updated_time": at,
                    "source": source,
                    "storage_location": source,
                }
            )
            tags.append(
                {**tag_template, "name": f"model-{e}", "version": n, "value": dataset_tag(e, n)}
            )
    for table, rows in (("model_versions", versions), ("model_version_tags", tags)):
        columns = list(rows[0])
        quoted = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(f":{c}" for c in columns)
        conn.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    conn.close()
    top = per_entry - per_entry % PROMOTE_EVERY
    for e in range(ENTRIES):
        client.set_registered_model_alias(f"model-{e}", "production", str(top))
    check = client.search_model_versions("name = 'model-7'")
    if len(check) != per_entry:
        raise RuntimeError(f"seeded model-7 has {len(check)} versions, expected {per_entry}")
    if int(client.get_model_version_by_alias("model-7", "production").version) != top:
        raise RuntimeError("the production alias does not resolve to the seeded holder")
    return {"versions": len(versions), "tags": len(tags), "aliases": ENTRIES}


class Peer:
    """The worker's state: one client over the seeded SQLite store."""

    def __init__(self) -> None:
        self.client: MlflowClient | None = None
        self.per_entry = 0

    def info(self, msg: dict[str, Any]) -> dict[str, Any]:
        import sqlalchemy

        return {
            "mlflow": mlflow.__version__,
            "sqlalchemy": sqlalchemy.__version__,
            "sqlite": sqlite3.sqlite_version,
            "python": sys.version.split()[0],
        }

    def setup(self, msg: dict[str, Any]) -> dict[str, Any]:
        folder = Path(msg["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        self.per_entry = int(msg["size"]) // ENTRIES
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        began = time.perf_counter()
        self.client = _client(uri)
        self.client.search_registered_models(max_results=1)
        schema_s = time.perf_counter() - began
        began = time.perf_counter()
        counts = seed(self.client, folder / "mlflow.db", self.per_entry)
        return {"schema_s": schema_s, "seed_s": time.perf_counter() - began, **counts}

    def run(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = str(msg["name"])
        if name in UNSUPPORTED:
            return {"unsupported": UNSUPPORTED[name], "samples": []}
        prepare, call = getattr(self, f"_op_{name}")()
        samples, last = timed(
            prepare,
            call,
            start=int(msg.get("start", 0)),
            count=int(msg["count"]),
            budget_s=float(msg.get("budget_s", 1e9)),
            profile_to=msg.get("profile_to"),
        )
        return {"samples": samples, "rows": len(last) if isinstance(last, list) else None}

    def _op_create(self) -> tuple[Any, Any]:
        client = self.client
        assert client is not None

        def prepare(i: int) -> tuple[str, str, dict[str, str]]:
            source = f"file:///bench/new/{uuid.uuid4().hex}"
            return f"model-{i % ENTRIES}", source, {"dataset": dataset_tag(i % ENTRIES, -i)}

        def call(arg: tuple[str, str, dict[str, str]]) -> Any:
            return client.create_model_version(arg[0], arg[1], tags=arg[2])

        return prepare, call

    def _op_promote(self) -> tuple[Any, Any]:
        client = self.client
        assert client is not None
        candidates = {
            e: [n for n in range(self.per_entry, 0, -1) if n % PROMOTE_EVERY]
            for e in range(ENTRIES)
        }

        def prepare(i: int) -> tuple[str, str]:
            e = i % ENTRIES
            return f"model-{e}", str(candidates[e].pop())

        def call(arg: tuple[str, str]) -> Any:
            return client.set_registered_model_alias(arg[0], "production", arg[1])

        return prepare, call

    def _op_resolve(self) -> tuple[Any, Any]:
        client = self.client
        assert client is not None
        return (
            (lambda i: f"model-{i % ENTRIES}"),
            (lambda name: client.get_model_version_by_alias(name, "production")),
        )

    def _op_resolve_fresh(self) -> tuple[Any, Any]:
        """A version of another model is created (untimed), then the alias is read."""
        client = self.client
        assert client is not None

        def prepare(i: int) -> str:
            source = f"file:///bench/new/{uuid.uuid4().hex}"
            client.create_model_version(f"model-{(i + 1) % ENTRIES}", source)
            return f"model-{i % ENTRIES}"

        return prepare, (lambda name: client.get_model_version_by_alias(name, "production"))

    def _op_tag_search(self) -> tuple[Any, Any]:
        client = self.client
        assert client is not None

        def call(tag: str) -> list[Any]:
            found: list[Any] = []
            token = None
            while True:
                page = client.search_model_versions(f"tags.dataset = '{tag}'", page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    return found

        return (lambda i: f"ds-{i % 100}"), call

    def _op_tag_search_fresh(self) -> tuple[Any, Any]:
        """A version tagged ``ds-K`` is created (untimed), then searched for: the answer
        must include it."""
        client = self.client
        assert client is not None
        _, search = self._op_tag_search()

        def prepare(i: int) -> tuple[str, str]:
            tag = f"ds-{i % 100}"
            made = client.create_model_version(
                f"model-{i % ENTRIES}",
                f"file:///bench/new/{uuid.uuid4().hex}",
                tags={"dataset": tag},
            )
            return tag, f"{made.name}@{made.version}"

        def call(arg: tuple[str, str]) -> Any:
            found = search(arg[0])
            if not any(f"{v.name}@{v.version}" == arg[1] for v in found):
                raise RuntimeError(f"the search missed {arg[1]} just created")
            return found

        return prepare, call

    # -- concurrent writers --------------------------------------------------------------

    def conc_setup(self, msg: dict[str, Any]) -> dict[str, Any]:
        folder = Path(msg["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        client = _client(f"sqlite:///{folder / 'mlflow.db'}")
        for e in range(ENTRIES):
            client.create_registered_model(f"model-{e}")
        return {}

    def conc_check(self, msg: dict[str, Any]) -> dict[str, Any]:
        db = sqlite3.connect(Path(msg["folder"]) / "mlflow.db")
        rows = db.execute(
            "SELECT version, source FROM model_versions WHERE name = ? ORDER BY version",
            (msg["entry"],),
        ).fetchall()
        db.close()
        return {
            "numbers": [r[0] for r in rows],
            "contents": [hashlib.sha256(r[1].encode()).hexdigest() for r in rows],
        }


def writer(folder: Path, entry: str, writer_id: int, count: int, go: Path) -> None:
    """One of the concurrent writers: ``count`` versions of ``entry`` after ``go``."""
    client = _client(f"sqlite:///{folder / 'mlflow.db'}")
    client.get_registered_model(entry)
    print("ready", flush=True)
    wait_for(go)
    began = time.time()
    created: list[int] = []
    errors: list[str] = []
    for i in range(count):
        source = f"file:///bench/{entry}/writer-{writer_id}/{i}"
        try:
            version = client.create_model_version(
                entry, source, tags={"dataset": f"w{writer_id}-{i}"}
            )
            created.append(int(version.version))
        except Exception as e:  # noqa: BLE001 - every failure is counted, not fatal
            errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    ended = time.time()
    print(json.dumps({"start": began, "end": ended, "created": created, "errors": errors}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "writer":
        folder, entry, writer_id, count, go = sys.argv[2:7]
        writer(Path(folder), entry, int(writer_id), int(count), Path(go))
        return
    peer = Peer()
    serve(
        {
            "info": peer.info,
            "setup": peer.setup,
            "run": peer.run,
            "conc_setup": peer.conc_setup,
            "conc_check": peer.conc_check,
        }
    )


if __name__ == "__main__":
    main()
