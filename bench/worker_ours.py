"""Our side of the MLflow comparison: a long-lived worker that ``bench/run.py`` drives.

Not meant to be run by hand: ``bench/run.py`` starts it with our venv's Python and sends it
one request per line (see ``_protocol.py``). ``worker_ours.py writer ...`` is the other
mode: one of the four concurrent writer processes.

What it measures, each call timed alone (preparation untimed):

* ``create``: ``Registry.register`` of a fresh tiny file (hashes it, detects its format,
  records the version, its params, its ``version.register`` ledger event and its candidate
  stage in one transaction). ``create_import``: ``Registry.import_version``, metadata only
  (the caller supplies the digest), the path the MLflow importer uses.
* ``promote``: ``Registry.apply`` of a production request whose approval is already
  recorded (untimed beforehand: staging request, approval, apply; production request,
  approval). Apply re-evaluates every gate (approvals, evals threshold, license,
  transition) in its write transaction, appends ``promotion.apply``, displaces the holder.
* ``resolve``: ``Registry.show("model-N@production")``; ``resolve_workload``:
  ``Registry.resolve("workload-0")`` (a stack in production and its pinned components).
* ``history``: ``Registry.history(entry, stage="production")``: who moved production, when.
* ``tag_search`` / ``metric_search``: ``inventory.query`` on the published DuckDB inventory
  (what ``registry sql`` runs): versions whose params carry ``dataset = 'ds-K'``, and
  versions with an ``accuracy`` eval of at least 0.995.

Seeding: direct bulk inserts into our own tables in one transaction, with a genuinely
hash-chained ledger (every version, eval and promotion has its sealed event), verified
with ``Registry.verify`` before anything is timed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _protocol import seed_tree, serve, timed, wait_for

from registry_pipeline.core.ledger import LedgerEvent, seal
from registry_pipeline.core.times import format_time
from registry_pipeline.exports import inventory
from registry_pipeline.service import Registry
from registry_pipeline.store import dumps

ENTRIES = 100
SUITE = "quality-evals"
REGISTRAR = "bench@example.com"
REQUESTER = "alice@example.com"
APPROVER = "bob@example.com"
PROMOTE_EVERY = 5
THRESHOLD = 0.995


def catalog_document() -> dict[str, Any]:
    """100 classifiers (the entries that hold the versions), one eval suite over them, one
    stack pinning ``model-0`` served as ``workload-0``; production needs one approval, an
    ``accuracy >= 0.5`` eval and an allowed license."""
    entries: dict[str, Any] = {
        f"model-{e}": {"kind": "classifier", "owner": "ml@example.com", "license": "mit"}
        for e in range(ENTRIES)
    }
    entries[SUITE] = {
        "kind": "eval_suite",
        "owner": "ml@example.com",
        "evaluates": [f"model-{e}" for e in range(ENTRIES)],
        "metrics": {"accuracy": {"min": 0, "max": 1}},
    }
    entries["stack-0"] = {
        "kind": "stack",
        "owner": "ml@example.com",
        "license": "mit",
        "components": ["model-0"],
    }
    return {
        "entries": entries,
        "workloads": {"workload-0": {"stack": "stack-0"}},
        "policy": {
            "approvers": [REQUESTER, APPROVER],
            "registrars": [REGISTRAR],
            "stages": {
                "staging": {"approvals": 1},
                "production": {
                    "approvals": 1,
                    "evals": {SUITE: {"accuracy": ">= 0.5"}},
                    "licenses": ["mit"],
                },
            },
        },
    }


def dataset_tag(e: int, n: int) -> str:
    """The ``dataset`` tag (our params key) of version n of entry e: 1 in 100 per value."""
    return f"ds-{(e * 7919 + n) % 100}"


def accuracy(e: int, n: int) -> float:
    """A deterministic accuracy in [0.5, 1): about 1% are at least 0.995."""
    h = int.from_bytes(hashlib.blake2b(f"{e}:{n}".encode(), digest_size=4).digest(), "big")
    return round(0.5 + (h % 100_000) / 200_000, 6)


def _iso(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, UTC))


class _Seeder:
    """Rows and sealed ledger events, appended in time order."""

    def __init__(self, seq: int, prev: str) -> None:
        self.seq, self.prev = seq, prev
        self.ledger: list[tuple[Any, ...]] = []
        self.last_time = ""
        self.versions: list[tuple[Any, ...]] = []
        self.stages: list[list[Any]] = []
        self.open_row: dict[tuple[str, int], int] = {}
        self.production: dict[str, int] = {}

    def event(self, t: str, actor: str, action: str, subject: str, payload: Any) -> int:
        """Seal and keep one ledger event; returns its seq."""
        self.seq += 1
        sealed = seal(
            LedgerEvent(
                seq=self.seq,
                recorded_at=t,
                actor=actor,
                action=action,
                subject=subject,
                payload=json.loads(dumps(payload)),
                prev_hash=self.prev,
                auth=(auth := {"method": "local", "principal": actor, "os_user": "bench"}),
            )
        )
        self.ledger.append(
            (
                self.seq,
                t,
                actor,
                action,
                subject,
                dumps(sealed.payload),
                self.prev,
                sealed.hash,
                dumps(auth),
            )
        )
        self.prev = sealed.hash
        self.last_time = t
        return self.seq

    def _assign(self, entry: str, n: int, stage: str, t: str, cause: str, seq: int) -> None:
        actor = REGISTRAR if cause == "register" else REQUESTER
        self.stages.append([entry, n, stage, t, None, t, actor, cause, cause, seq])
        self.open_row[(entry, n)] = len(self.stages) - 1

    def version(self, entry: str, n: int, t: str, params: dict[str, Any], digest: str) -> None:
        """A registered version, its event and its candidate stage."""
        manifest = {"files": [{"path": "model.bin", "sha256": digest, "size": 1000}]}
        source = f"/data/{entry}/{n}"
        self.versions.append((entry, n, digest, 1000, 1, dumps(manifest), source, dumps(params), t))
        seq = self.event(
            t,
            REGISTRAR,
            "version.register",
            f"{entry}@{n}",
            {
                "entry": entry,
                "version": n,
                "digest": digest,
                "size": 1000,
                "files": 1,
                "source": source,
                "params": params,
                "upstream": [],
            },
        )
        self._assign(entry, n, "candidate", t, "register", seq)

    def move(self, entry: str, n: int, stage: str, t: str) -> None:
        """An applied promotion: closes the version's stage, displaces the holder."""
        displaced = self.production.get(entry) if stage == "production" else None
        seq = self.event(
            t,
            REQUESTER,
            "promotion.apply",
            f"{entry}@{n}",
            {
                "entry": entry,
                "version": n,
                "target": stage,
                "displaces": self.stages[displaced][1] if displaced is not None else None,
                "approved_by": [APPROVER],
            },
        )
        self.stages[self.open_row[(entry, n)]][4] = t
        if displaced is not None:
            self.stages[displaced][4] = t
            self._assign(entry, self.stages[displaced][1], "archived", t, "displaced", seq)
        self._assign(entry, n, stage, t, "promotion", seq)
        if stage == "production":
            self.production[entry] = len(self.stages) - 1


def seed(db: Path, per_entry: int) -> dict[str, Any]:
    """Bulk-insert ``per_entry`` versions of each of the 100 models, with params (the tag),
    one eval each, a production history (every 5th version promoted through staging, the
    newest of those holding production) and a stack in production, all in one transaction
    with every ledger event sealed in order."""
    start = time.time() - 30 * 86400
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN IMMEDIATE")
    seq, prev = conn.execute("SELECT seq, hash FROM ledger_head").fetchone()
    s = _Seeder(int(seq), str(prev))
    evals: list[tuple[Any, ...]] = []
    s.version(SUITE, 1, _iso(start), {}, hashlib.sha256(b"suite").hexdigest())
    for n in range(1, per_entry + 1):
        for e in range(ENTRIES):
            entry = f"model-{e}"
            base = start + 60 + ((n - 1) * ENTRIES + e) * 1.0
            t = _iso(base)
            digest = hashlib.sha256(f"{entry}:{n}".encode()).hexdigest()
            s.version(entry, n, t, {"dataset": dataset_tag(e, n), "lr": 0.001}, digest)
            metrics = {"accuracy": accuracy(e, n)}
            evals.append(
                (len(evals) + 1, entry, n, SUITE, 1, dumps(metrics), "{}", t, t, REGISTRAR)
            )
            s.event(
                _iso(base + 0.1),
                REGISTRAR,
                "eval.ingest",
                f"{entry}@{n}",
                {
                    "id": len(evals),
                    "entry": entry,
                    "version": n,
                    "suite": SUITE,
                    "metrics": metrics,
                },
            )
            if n % PROMOTE_EVERY == 0:
                s.move(entry, n, "staging", _iso(base + 0.2))
                s.move(entry, n, "production", _iso(base + 0.4))
    top = per_entry - per_entry % PROMOTE_EVERY
    end = start + 60 + per_entry * ENTRIES
    document = {"stack": "stack-0", "components": [{"entry": "model-0", "version": top}]}
    stack_digest = hashlib.sha256(dumps(document).encode()).hexdigest()
    s.version("stack-0", 1, _iso(end + 10), {}, stack_digest)
    s.move("stack-0", 1, "staging", _iso(end + 11))
    s.move("stack-0", 1, "production", _iso(end + 12))
    conn.executemany(
        "INSERT INTO versions (entry, number, digest, size, file_count, manifest, source, "
        "params, created_at, created_by, format) VALUES (?,?,?,?,?,?,?,?,?,'bench','{}')",
        s.versions,
    )
    conn.execute("INSERT INTO lineage VALUES ('stack-0', 1, 'model-0', ?, 'pins')", (top,))
    conn.executemany("INSERT INTO evals VALUES (?,?,?,?,?,?,?,?,?,?)", evals)
    # the search indexes, as registration and eval ingestion write them
    conn.executemany(
        "INSERT INTO version_params VALUES (?, ?, ?, ?)",
        [
            (v[0], v[1], key, value if isinstance(value, str) else json.dumps(value))
            for v in s.versions
            for key, value in json.loads(v[7]).items()
        ],
    )
    conn.executemany(
        "INSERT INTO eval_metrics VALUES (?, 'accuracy', ?, ?, ?, ?)",
        [(e[0], e[1], e[2], e[3], json.loads(e[5])["accuracy"]) for e in evals],
    )
    conn.executemany(
        "INSERT INTO stage_assignments (entry, number, stage, effective_from, effective_to, "
        "recorded_at, actor, reason, cause, request_id, approved_by, ledger_seq) "
        "VALUES (?,?,?,?,?,?,?,?,?,NULL,?,?)",
        [(*r[:9], f'["{APPROVER}"]' if r[8] == "promotion" else "[]", r[9]) for r in s.stages],
    )
    conn.executemany("INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?,?)", s.ledger)
    seed_tree(conn)
    conn.execute(
        "UPDATE ledger_head SET seq = ?, hash = ?, recorded_at = ?", (s.seq, s.prev, s.last_time)
    )
    conn.execute("UPDATE entries SET next_version = ? WHERE name LIKE 'model-%'", (per_entry + 1,))
    conn.execute("UPDATE entries SET next_version = 2 WHERE name IN (?, 'stack-0')", (SUITE,))
    conn.execute("COMMIT")
    conn.close()
    return {
        "versions": len(s.versions),
        "evals": len(evals),
        "stage_rows": len(s.stages),
        "ledger_events": len(s.ledger),
    }


class Ours:
    """The worker's state: one registry per actor over the seeded store."""

    def __init__(self) -> None:
        self.folder = Path()
        self.url = ""
        self.per_entry = 0
        self.registrar: Registry | None = None
        self.requester: Registry | None = None
        self.approver: Registry | None = None
        self.candidates: dict[int, list[int]] = {}
        self.published_seq = -1

    # -- setup ---------------------------------------------------------------------------

    def setup(self, msg: dict[str, Any]) -> dict[str, Any]:
        size = int(msg["size"])
        self.folder = Path(msg["folder"])
        self.folder.mkdir(parents=True, exist_ok=True)
        os.environ["REGISTRY_HASH_CACHE"] = str(self.folder / "hash-cache.db")
        self.per_entry = size // ENTRIES
        (self.folder / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
        self.url = f"sqlite:///{self.folder / 'registry.db'}"
        Registry.init(self.url, catalog=self.folder / "catalog.yaml", actor=REGISTRAR)
        began = time.perf_counter()
        counts = seed(self.folder / "registry.db", self.per_entry)
        seeded = time.perf_counter() - began
        deployments = self.folder / "deployments"
        self.registrar = Registry.open(self.url, actor=REGISTRAR, deployments=deployments)
        self.requester = Registry.open(self.url, actor=REQUESTER, deployments=deployments)
        self.approver = Registry.open(self.url, actor=APPROVER, deployments=deployments)
        began = time.perf_counter()
        verified = self.registrar.verify().to_dict()
        verify_s = time.perf_counter() - began
        if not verified["ok"]:
            raise RuntimeError(f"seeded ledger does not verify: {verified}")
        self.candidates = {
            e: [n for n in range(self.per_entry, 0, -1) if n % PROMOTE_EVERY]
            for e in range(ENTRIES)
        }
        build_s = self._publish()
        return {
            "seed_s": seeded,
            "verify_s": verify_s,
            "inventory_build_s": build_s,
            "ledger_ok": verified["ok"],
            **counts,
        }

    def _publish(self) -> float:
        assert self.registrar is not None
        began = time.perf_counter()
        published = inventory.build(self.registrar, self.folder / "inventory")
        self.published_seq = published.as_of_seq
        return time.perf_counter() - began

    # -- operations ----------------------------------------------------------------------

    def run(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = str(msg["name"])
        prepare, call, extra = getattr(self, f"_op_{name}")()
        samples, last = timed(
            prepare,
            call,
            start=int(msg.get("start", 0)),
            count=int(msg["count"]),
            budget_s=float(msg.get("budget_s", 1e9)),
            profile_to=msg.get("profile_to"),
        )
        return {"samples": samples, "rows": _rows(last), **extra}

    def _fresh_inventory(self) -> dict[str, Any]:
        assert self.registrar is not None
        if self.registrar.ledger_head().to_dict()["seq"] == self.published_seq:
            return {}
        return {"inventory_rebuild_s": self._publish()}

    def _op_create(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None
        new = self.folder / "new"
        new.mkdir(exist_ok=True)

        def prepare(i: int) -> tuple[str, Path, dict[str, str]]:
            path = new / f"{uuid.uuid4().hex}.bin"
            path.write_bytes(f"model {i} {uuid.uuid4()}".encode())
            return f"model-{i % ENTRIES}", path, {"dataset": dataset_tag(i % ENTRIES, -i)}

        def call(arg: tuple[str, Path, dict[str, str]]) -> Any:
            return registry.register(arg[0], arg[1], params=arg[2])

        return prepare, call, {}

    def _op_create_import(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None

        def prepare(i: int) -> dict[str, Any]:
            digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
            return {
                "entry": f"model-{i % ENTRIES}",
                "digest": digest,
                "manifest": {"files": [{"path": "model.bin", "sha256": digest, "size": 1}]},
                "source": f"file:///bench/{digest[:12]}",
                "params": {"dataset": dataset_tag(i % ENTRIES, -i)},
                "origin": {"system": "bench"},
            }

        def call(arg: dict[str, Any]) -> Any:
            entry = arg.pop("entry")
            return registry.import_version(entry, **arg)

        return prepare, call, {}

    def _op_promote(self) -> tuple[Any, Any, dict[str, Any]]:
        requester, approver = self.requester, self.approver
        assert requester is not None
        assert approver is not None

        def prepare(i: int) -> int:
            e = i % ENTRIES
            n = self.candidates[e].pop()
            ref = f"model-{e}@{n}"
            staging = requester.request_promotion(ref, to="staging", reason="bench")
            approver.approve(staging.id, reason="bench")
            requester.apply(staging.id)
            production = requester.request_promotion(ref, to="production", reason="bench")
            approver.approve(production.id, reason="bench")
            return production.id

        def call(request_id: int) -> Any:
            return requester.apply(request_id)

        return prepare, call, {}

    def _op_resolve(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None
        return (lambda i: f"model-{i % ENTRIES}@production"), registry.show, {}

    def _op_resolve_fresh(self) -> tuple[Any, Any, dict[str, Any]]:
        """A version of another entry is recorded (untimed, the ledger moves: nothing kept
        in memory answers), then ``show ENTRY@production``."""
        registry = self.registrar
        assert registry is not None

        def prepare(i: int) -> str:
            digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
            registry.import_version(
                f"model-{(i + 1) % ENTRIES}",
                digest=digest,
                manifest={"files": [{"path": "model.bin", "sha256": digest, "size": 1}]},
                source=f"file:///bench/{digest[:12]}",
                params={"dataset": "fresh"},
                origin={"system": "bench"},
            )
            return f"model-{i % ENTRIES}@production"

        return prepare, registry.show, {}

    def _op_resolve_workload(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None
        return (lambda i: "workload-0"), registry.resolve, {}

    def _op_history(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None
        return (
            (lambda i: f"model-{i % ENTRIES}"),
            (lambda entry: [_r.to_dict() for _r in registry.history(entry, stage="production")]),
            {},
        )

    def _op_tag_search(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None
        return (
            (lambda i: f"ds-{i % 100}"),
            (lambda tag: registry.search(params={"dataset": tag}, limit=10_000).versions),
            {},
        )

    def _op_tag_search_fresh(self) -> tuple[Any, Any, dict[str, Any]]:
        """A version tagged ``ds-new-K`` is recorded (untimed), then searched for: the
        answer must include it."""
        registry = self.registrar
        assert registry is not None

        def prepare(i: int) -> tuple[str, int]:
            tag = f"ds-{i % 100}"
            digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
            made = registry.import_version(
                f"model-{i % ENTRIES}",
                digest=digest,
                manifest={"files": [{"path": "model.bin", "sha256": digest, "size": 1}]},
                source=f"file:///bench/{digest[:12]}",
                params={"dataset": tag},
                origin={"system": "bench"},
            )
            return tag, made.version

        def call(arg: tuple[str, int]) -> Any:
            found = registry.search(params={"dataset": arg[0]}, limit=10_000).versions
            if not any(v.version == arg[1] for v in found):
                raise RuntimeError(f"the search missed version {arg[1]} just recorded")
            return found

        return prepare, call, {}

    def _op_metric_search(self) -> tuple[Any, Any, dict[str, Any]]:
        registry = self.registrar
        assert registry is not None
        return (
            (lambda i: THRESHOLD),
            (
                lambda threshold: (
                    registry.search(
                        metric="accuracy", at_least=threshold, suite=SUITE, limit=10_000
                    ).versions
                )
            ),
            {},
        )

    # -- concurrent writers --------------------------------------------------------------

    def conc_setup(self, msg: dict[str, Any]) -> dict[str, Any]:
        folder = Path(msg["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
        url = f"sqlite:///{folder / 'registry.db'}"
        Registry.init(url, catalog=folder / "catalog.yaml", actor=REGISTRAR)
        return {"url": url}

    def conc_check(self, msg: dict[str, Any]) -> dict[str, Any]:
        db = sqlite3.connect(Path(msg["folder"]) / "registry.db")
        rows = db.execute(
            "SELECT number, digest FROM versions WHERE entry = ? ORDER BY number", (msg["entry"],)
        ).fetchall()
        db.close()
        registry = Registry.open(f"sqlite:///{Path(msg['folder']) / 'registry.db'}")
        verified = registry.verify().to_dict()
        registry.store.dispose()
        return {
            "numbers": [r[0] for r in rows],
            "contents": [r[1] for r in rows],
            "ledger_ok": verified["ok"],
        }


def _rows(result: Any) -> int | None:
    if isinstance(result, tuple) and not (len(result) == 2 and isinstance(result[1], list)):
        return len(result)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
        return len(result[1])
    if isinstance(result, list):
        return len(result)
    return None


def writer(folder: Path, entry: str, writer_id: int, count: int, go: Path) -> None:
    """One of the concurrent writers: ``count`` registrations of ``entry`` after ``go``."""
    os.environ["REGISTRY_HASH_CACHE"] = str(folder / "hash-cache.db")
    registry = Registry.open(f"sqlite:///{folder / 'registry.db'}", actor=REGISTRAR)
    files = folder / f"writer-{entry}-{writer_id}"
    files.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        path = files / f"{i}.bin"
        path.write_bytes(f"{entry} writer {writer_id} item {i} {uuid.uuid4()}".encode())
        paths.append(path)
    registry.catalog()
    print("ready", flush=True)
    wait_for(go)
    began = time.time()
    created: list[int] = []
    errors: list[str] = []
    for i, path in enumerate(paths):
        try:
            created.append(
                registry.register(entry, path, params={"dataset": f"w{writer_id}-{i}"}).version
            )
        except Exception as e:  # noqa: BLE001 - every failure is counted, not fatal
            errors.append(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    ended = time.time()
    print(json.dumps({"start": began, "end": ended, "created": created, "errors": errors}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "writer":
        folder, entry, writer_id, count, go = sys.argv[2:7]
        writer(Path(folder), entry, int(writer_id), int(count), Path(go))
        return
    ours = Ours()
    serve(
        {
            "setup": ours.setup,
            "run": ours.run,
            "conc_setup": ours.conc_setup,
            "conc_check": ours.conc_check,
        }
    )


if __name__ == "__main__":
    main()
