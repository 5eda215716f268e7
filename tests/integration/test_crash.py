"""kill -9 in the middle of work: every mutation and its ledger event commit together or not
at all, so a registry whose writer died at any instant is still whole.

A worker (crash_worker.py) loops over register / request+approve+apply / rollback on a
SQLite registry and is killed with SIGKILL after a seeded random delay. After every kill
the test checks the chain, the one-event-per-version and one-open-stage rules, applied
requests against their ledger events, gap-free numbers, single holders, that everything
the worker reported committed is there, and that the registry takes the next write.

Four series of 15 kills each run on their own database, so later kills hit a registry
that already survived earlier ones. Most workers are forked from a pre-imported server
(fast); every fifth is a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("crash_worker.py")
SERIES = 4
TRIALS_PER_SERIES = 15
DELAY_MS = (20, 400)
READY_TIMEOUT_S = 60.0
ENTRIES = ("churn-clf", "fraud-clf")
CATALOG = """\
entries:
  churn-clf:
    kind: classifier
    owner: w0@example.com
    license: mit
    description: Churn classifier written by a worker that gets killed
  fraud-clf:
    kind: classifier
    owner: w0@example.com
    license: mit
    description: A second entry, so numbers are checked per entry
workloads: {}
policy:
  approvers: [w0@example.com, w1@example.com]
  stages:
    staging: {approvals: 1}
    production: {approvals: 1}
"""


@dataclass
class Progress:
    """What the worker reported before it died."""

    ready: bool = False
    begun: int = 0
    committed: list[list[str]] = field(default_factory=list)
    skipped: int = 0
    in_flight: str | None = None
    finished: bool = False
    crashed: str | None = None


def read_progress(path: Path) -> Progress:
    progress = Progress()
    if not path.exists():
        return progress
    lines = path.read_text().splitlines()
    # A line cut by the kill can only be the last one; ignore it if it is partial.
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "R":
            progress.ready = True
        elif tag == "B" and len(parts) == 4:
            progress.begun += 1
            progress.in_flight = line
        elif tag == "E" and len(parts) >= 5:
            progress.in_flight = None
            if parts[4] == "ok":
                progress.committed.append(parts[1:4] + parts[5:])
            else:
                progress.skipped += 1
        elif tag == "F":
            progress.finished = True
        elif tag == "X":
            progress.crashed = line
    return progress


class ForkServer:
    """crash_worker.py serve: forks pre-imported workers on request."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=dict(os.environ),
        )

    def start(self, job: dict[str, Any]) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.strip().isdigit(), f"fork server said {line!r}: {self._stderr()}"
        return int(line)

    def status(self, pid: int) -> int:
        """The wait status of worker ``pid`` (after it died)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line, f"fork server said nothing: {self._stderr()}"
        assert int(line[0]) == pid, f"fork server said {line!r}"
        return int(line[1])

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_ready(progress: Path, alive: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if progress.exists() and progress.read_text().startswith("R "):
            return
        if not alive():
            return
        time.sleep(0.002)
    raise AssertionError(f"the worker did not get ready in {READY_TIMEOUT_S} s")


def kill_one(
    *, server: ForkServer | None, url: str, seed: int, scratch: Path, progress: Path, delay: float
) -> tuple[int, Progress, str]:
    """Start a worker, let it work ``delay`` seconds after it is ready, SIGKILL it.

    Returns the wait status (as a returncode: -9 for SIGKILL), its progress, its stderr.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    if server is not None:
        pid = server.start(
            {"url": url, "seed": seed, "scratch": str(scratch), "progress": str(progress)}
        )

        def alive() -> bool:
            state = Path(f"/proc/{pid}/stat")
            try:
                return state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
            except (OSError, IndexError):
                return False

        try:
            wait_ready(progress, alive)
            time.sleep(delay)
            assert alive(), f"worker {pid} stopped before the kill: {read_progress(progress)}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        status = server.status(pid)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return code, read_progress(progress), ""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "run", url, str(seed), str(scratch), str(progress)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=scratch,
    )
    try:
        wait_ready(progress, lambda: proc.poll() is None)
        time.sleep(delay)
        assert proc.poll() is None, f"worker stopped before the kill: {read_progress(progress)}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, read_progress(progress), err


def rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def check_consistent(url: str, db: Path, progress: Progress, where: str) -> dict[str, int]:
    """Every invariant a torn write would break; returns a few counts."""
    registry = Registry.open(url, actor="w0@example.com")
    try:
        verdict = registry.verify().to_dict()
    finally:
        registry.store.dispose()
    assert verdict["ok"], f"{where}: ledger chain broken after the kill: {verdict}"

    assert rows(db, "PRAGMA integrity_check") == [("ok",)], where
    assert rows(db, "PRAGMA foreign_key_check") == [], where

    ledger = rows(db, "SELECT seq, action, subject, payload FROM ledger ORDER BY seq")
    seqs = [r[0] for r in ledger]
    assert seqs == list(range(1, len(seqs) + 1)), f"{where}: ledger seqs have a gap"
    (head,) = rows(db, "SELECT seq FROM ledger_head WHERE id = 1")
    assert head[0] == len(seqs), f"{where}: head {head[0]} but {len(seqs)} events"
    events = {
        seq: (action, subject, json.loads(payload)) for seq, action, subject, payload in ledger
    }

    # Every version row has exactly one version.register event, and the reverse.
    versions = {(e, n): d for e, n, d in rows(db, "SELECT entry, number, digest FROM versions")}
    registered = Counter(
        (p["entry"], p["version"]) for a, _, p in events.values() if a == "version.register"
    )
    assert set(registered) == set(versions), (
        f"{where}: versions without their event {sorted(set(versions) - set(registered))}, "
        f"events without their version {sorted(set(registered) - set(versions))}"
    )
    assert all(c == 1 for c in registered.values()), f"{where}: {registered.most_common(3)}"
    for a, _, p in events.values():
        if a == "version.register":
            assert versions[(p["entry"], p["version"])] == p["digest"], where

    # Every version has exactly one open stage assignment, and each open assignment
    # points at a ledger event that put that version in that stage.
    open_rows = rows(
        db,
        "SELECT entry, number, stage, ledger_seq FROM stage_assignments WHERE effective_to IS NULL",
    )
    open_count = Counter((e, n) for e, n, _, _ in open_rows)
    assert set(open_count) == set(versions), f"{where}: versions without an open stage"
    assert all(c == 1 for c in open_count.values()), f"{where}: {open_count.most_common(3)}"
    for entry, number, stage, seq in open_rows:
        assert seq in events, f"{where}: {entry}@{number} {stage} cites missing event {seq}"
        action, _, payload = events[seq]
        assert payload.get("entry") == entry, f"{where}: event {seq} is not about {entry}"
        if action == "version.register":
            assert (stage, payload["version"]) == ("candidate", number), where
        elif action == "promotion.apply":
            assert (payload["target"], payload["version"]) == (stage, number) or (
                stage in ("candidate", "archived") and payload["displaces"] == number
            ), f"{where}: {entry}@{number} in {stage} from event {seq} {payload}"
        elif action == "stage.rollback":
            assert number in (payload["from_version"], payload["to_version"]), where
        else:
            raise AssertionError(f"{where}: {entry}@{number} in {stage} from {action}")

    # At most one open holder of each single-holder stage.
    holders = Counter(
        (e, s) for e, _, s, _ in open_rows if s in ("staging", "production")
    ).most_common(1)
    assert not holders or holders[0][1] == 1, f"{where}: two holders {holders}"

    # Requests: each has its promotion.request event; applied <=> one promotion.apply.
    requests = {
        i: (e, n, t, s)
        for i, e, n, t, s in rows(db, "SELECT id, entry, number, target, status FROM requests")
    }
    opened = Counter(p["request"] for a, _, p in events.values() if a == "promotion.request")
    assert set(opened) == set(requests), f"{where}: requests and request events differ"
    assert all(c == 1 for c in opened.values()), where
    applied = Counter(p["request"] for a, _, p in events.values() if a == "promotion.apply")
    assert all(c == 1 for c in applied.values()), f"{where}: a request applied twice"
    status_applied = {i for i, (*_, s) in requests.items() if s == "applied"}
    assert status_applied == set(applied), (
        f"{where}: applied without an apply event {sorted(status_applied - set(applied))}, "
        f"apply events on unapplied requests {sorted(set(applied) - status_applied)}"
    )
    for a, _, p in events.values():
        if a == "promotion.apply":
            e, n, t, _ = requests[p["request"]]
            assert (e, n, t) == (p["entry"], p["version"], p["target"]), where
    approvals = rows(db, "SELECT request_id, approver FROM approvals")
    # An approver's later decision replaces the row; its event says what it replaces.
    approved = Counter(
        (p["request"], p["approver"])
        for a, _, p in events.values()
        if a == "promotion.approve" and "replaces" not in p
    )
    assert Counter(approvals) == approved, f"{where}: approvals and approve events differ"

    # Numbers are gap-free per entry and the counter is right behind the last one.
    for entry, next_version in rows(db, "SELECT name, next_version FROM entries"):
        numbers = sorted(n for e, n in versions if e == entry)
        assert numbers == list(range(1, len(numbers) + 1)), f"{where}: {entry} has gaps"
        assert next_version == len(numbers) + 1, f"{where}: {entry} counter {next_version}"

    # Durability: everything the worker saw commit is there.
    for n, op, entry, *detail in progress.committed:
        if op == "register":
            version, digest = int(detail[0]), detail[1]
            assert versions.get((entry, version)) == digest, f"{where}: op {n} lost {entry}"
        elif op in ("staging", "production"):
            request, seq = int(detail[0]), int(detail[2])
            assert requests[request][3] == "applied", f"{where}: op {n} apply lost"
            assert events[seq][0] == "promotion.apply", f"{where}: op {n} event lost"
        else:
            assert events[int(detail[3])][0] == "stage.rollback", f"{where}: op {n} lost"
    return {"versions": len(versions), "events": len(seqs), "requests": len(requests)}


def check_writable(url: str, db: Path, scratch: Path, trial: int) -> None:
    """The registry takes the next write: no lock or torn page was left behind."""
    before = dict(rows(db, "SELECT entry, max(number) FROM versions GROUP BY entry"))
    source = scratch / f"after-kill-{trial}"
    source.mkdir(parents=True, exist_ok=True)
    (source / "model.bin").write_text(f"written after kill {trial}")
    registry = Registry.open(url, actor="w0@example.com")
    try:
        result = registry.register("churn-clf", source)
    finally:
        registry.store.dispose()
    assert result.created
    assert result.version == before.get("churn-clf", 0) + 1


@pytest.mark.parametrize("series", range(SERIES))
def test_kill_9_mid_work_leaves_a_consistent_registry(tmp_path: Path, series: int) -> None:
    db = tmp_path / "registry.db"
    url = f"sqlite:///{db}"
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    registry, _ = Registry.init(url, catalog=catalog, actor="w0@example.com")
    registry.store.dispose()
    rng = random.Random(f"crash-series-{series}")
    server = ForkServer(tmp_path)
    stats: list[dict[str, Any]] = []
    try:
        for trial in range(TRIALS_PER_SERIES):
            where = f"series {series} trial {trial}"
            delay = rng.uniform(*DELAY_MS) / 1000
            fresh = trial % 5 == 0
            progress_file = tmp_path / f"progress-{trial}.txt"
            code, progress, err = kill_one(
                server=None if fresh else server,
                url=url,
                seed=series * 1000 + trial,
                scratch=tmp_path / "scratch",
                progress=progress_file,
                delay=delay,
            )
            assert progress.crashed is None, f"{where}: worker failed: {progress.crashed}\n{err}"
            assert code == -signal.SIGKILL, f"{where}: worker exited {code}: {err}"
            assert progress.ready, f"{where}: the worker never started: {progress}"
            assert not progress.finished, f"{where}: the worker finished before the kill"
            counts = check_consistent(url, db, progress, where)
            check_writable(url, db, tmp_path / "scratch", trial)
            stats.append(
                {
                    "delay_ms": round(delay * 1000),
                    "fresh": fresh,
                    "begun": progress.begun,
                    "committed": len(progress.committed),
                    "skipped": progress.skipped,
                    "in_flight": progress.in_flight,
                    **counts,
                }
            )
    finally:
        server.close()

    print(f"\nseries {series}:")
    for row in stats:
        print("  ", row)
    # The kills landed in the middle of real work, not before it or after it.
    worked = [s for s in stats if s["committed"] + s["skipped"] > 0]
    mid_op = [s for s in stats if s["in_flight"] is not None]
    assert len(worked) >= TRIALS_PER_SERIES // 2, stats
    assert len(mid_op) >= TRIALS_PER_SERIES // 2, stats
    assert sum(s["committed"] for s in stats) >= TRIALS_PER_SERIES, stats
    ops = Counter(s["in_flight"].split()[2] for s in mid_op)
    assert len(ops) >= 2, f"kills landed in only {sorted(ops)}"
    assert stats[-1]["events"] > stats[0]["events"]
