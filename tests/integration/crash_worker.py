"""A writer process that the crash test kills with SIGKILL at a random instant.

It loops over the registry's write paths on one SQLite registry: register a new version,
promote the latest candidate to staging (request, approve, apply), promote the staging
holder to production, roll a stage back. It never stops on its own (``max_ops`` is far
beyond what it reaches before the kill), so a kill always lands while it works.

Progress goes to a file written with ``os.write`` (no buffering, so every line written
before the kill survives it), one line per event::

    R <pid>                                    ready: registries opened, about to work
    B <n> <op> <entry>                         operation n begins
    E <n> <op> <entry> ok <detail...>          operation n committed
    E <n> <op> <entry> skip <ErrorType>        operation n was refused (nothing written)
    X <ErrorType>: <message>                   unexpected error (the worker exits 3)
    F                                          max_ops reached (never, in practice)

Details of committed operations: ``register`` -> ``VERSION DIGEST``; ``staging`` and
``production`` -> ``REQUEST VERSION LEDGER_SEQ``; ``rollback`` -> ``STAGE VERSION
PREVIOUS LEDGER_SEQ``.

Usage:
    python crash_worker.py run DATABASE_URL SEED SCRATCH_DIR PROGRESS_FILE [MAX_OPS]
    python crash_worker.py serve
        A fork server: imports the registry once, then for each JSON line on stdin
        ({"url", "seed", "scratch", "progress", "max_ops"}) forks a worker, prints its pid,
        waits for it and prints ``<pid> <wait status>``. Forking skips the ~1 s import of
        a fresh interpreter, so many kills fit in a short test.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import traceback
from pathlib import Path

import registry_pipeline.inspection  # noqa: F401  (the format detectors, imported on first register)
from registry_pipeline.errors import Conflict, NotFound, Refused
from registry_pipeline.service import Registry

ENTRIES = ("churn-clf", "fraud-clf")
OWNER = "w0@example.com"
APPROVER = "w1@example.com"
OPS = ("register", "staging", "production", "rollback")
WEIGHTS = (35, 25, 25, 15)
DEFAULT_MAX_OPS = 1_000_000


def work(url: str, seed: int, scratch: str, progress: str, max_ops: int) -> None:
    """Run operations until killed (or ``max_ops``); report progress to ``progress``."""
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def say(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    try:
        rng = random.Random(seed)
        owner = Registry.open(url, actor=OWNER)
        approver = Registry.open(url, actor=APPROVER)
        say(f"R {os.getpid()}")
        for n in range(max_ops):
            op = rng.choices(OPS, weights=WEIGHTS)[0]
            entry = rng.choice(ENTRIES)
            say(f"B {n} {op} {entry}")
            try:
                if op == "register":
                    detail = _register(owner, entry, rng, Path(scratch) / f"s{seed}-{n}", seed, n)
                elif op == "staging":
                    detail = _promote(owner, approver, entry, "staging", n)
                elif op == "production":
                    detail = _promote(owner, approver, entry, "production", n)
                else:
                    detail = _rollback(approver, entry, rng.choice(("production", "staging")), n)
            except (Refused, NotFound, Conflict) as e:
                say(f"E {n} {op} {entry} skip {type(e).__name__}")
            else:
                say(f"E {n} {op} {entry} ok {detail}")
        say("F")
    except BaseException as e:  # noqa: BLE001 - reported to the test, which fails on it
        say(f"X {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        os._exit(3)
    finally:
        os.close(fd)


def _register(
    registry: Registry, entry: str, rng: random.Random, source: Path, seed: int, n: int
) -> str:
    source.mkdir(parents=True, exist_ok=True)
    (source / "model.bin").write_bytes(rng.randbytes(rng.randint(1, 4096)))
    if rng.random() < 0.5:
        (source / "config.json").write_text(json.dumps({"seed": seed, "n": n}))
    result = registry.register(entry, source, params={"seed": seed, "op": n})
    return f"{result.version} {result.digest}"


def _promote(owner: Registry, approver: Registry, entry: str, stage: str, n: int) -> str:
    """Move a version of ``entry`` to ``stage``, finishing a request an earlier (killed)
    worker left pending when there is one."""
    source = "candidate" if stage == "staging" else "staging"
    shown = owner.show(entry if stage == "staging" else f"{entry}@staging").to_dict()
    if shown["stage"] != source:
        raise Refused(f"{entry}@{shown['version']} is in {shown['stage']}, not {source}")
    version = shown["version"]
    pending = [
        r
        for r in owner.pending_requests()
        if r.entry == entry and r.version == version and r.target == stage
    ]
    request = (
        pending[0]
        if pending
        else owner.request_promotion(f"{entry}@{version}", to=stage, reason=f"op {n}")
    )
    with contextlib.suppress(Conflict):  # approved before the previous worker was killed
        approver.approve(request.id, reason=f"reviewed in op {n}")
    change = owner.apply(request.id)
    return f"{request.id} {change.version} {change.ledger_seq}"


def _rollback(approver: Registry, entry: str, stage: str, n: int) -> str:
    change = approver.rollback(entry, stage=stage, reason=f"drill in op {n}")
    return f"{stage} {change.version} {change.previous} {change.ledger_seq}"


def serve() -> None:
    """Fork a worker for each job read from stdin; report its pid, then its wait status."""
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            work(
                job["url"],
                int(job["seed"]),
                job["scratch"],
                job["progress"],
                int(job.get("max_ops", DEFAULT_MAX_OPS)),
            )
            os._exit(0)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"{pid} {status}", flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "serve":
        serve()
    elif mode == "run":
        url, seed, scratch, progress = sys.argv[2:6]
        max_ops = int(sys.argv[6]) if len(sys.argv) > 6 else DEFAULT_MAX_OPS
        work(url, int(seed), scratch, progress, max_ops)
    else:
        sys.exit(f"unknown mode {mode!r}: use run or serve")


if __name__ == "__main__":
    main()
