"""How fast the web UI's pages render at the server, over a registry of 10,000 versions
(100 models of 100 versions, every 5th promoted through staging to production, one eval
each, a stack in production) and 1,000 promotion requests (900 pending, 100 decided).

Run: ``.venv/bin/python bench/web_pages.py [--per-entry 100] [--requests 1000] [--n 60]``.

The server is the real ``registry serve`` in its own process; pages are fetched as the
approver's session (a pasted-token login) with ``http.client`` on one keep-alive
connection, each page ``--n`` times after a warm-up, and timed at the client (so the
figures include the loopback round trip). Target: every page p50 and p99 under 150 ms.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from _protocol import percentile, registry_server
from worker_ours import APPROVER, ENTRIES, PROMOTE_EVERY, REGISTRAR, catalog_document, seed

from registry_pipeline.service import Registry

TARGET_MS = 150.0


def seed_estate(folder: Path, per_entry: int, requests: int) -> tuple[str, str, int]:
    """The seeded registry, the approver's token and one pending request's id."""
    (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
    url = f"sqlite:///{folder / 'registry.db'}"
    Registry.init(url, catalog=folder / "catalog.yaml", actor=REGISTRAR)
    seed(folder / "registry.db", per_entry)
    requester = Registry.open(url, actor="alice@example.com")
    approver = Registry.open(url, actor=APPROVER)
    opened: list[int] = []
    candidates = [
        (e, n) for n in range(per_entry, 0, -1) if n % PROMOTE_EVERY for e in range(ENTRIES)
    ]
    for e, n in candidates[:requests]:
        made = requester.request_promotion(f"model-{e}@{n}", to="staging", reason="bench")
        opened.append(made.id)
    for rid in opened[: requests // 10]:
        approver.reject(rid, reason="bench: decided")
    token = Registry.open(url, actor="operator").tokens.create(principal=APPROVER).token
    return url, token, opened[-1]


def log_in(conn: http.client.HTTPConnection, token: str) -> str:
    conn.request("GET", "/login")
    page = conn.getresponse()
    body = page.read().decode()
    pre = re.search(r'name="pre" value="([^"]+)"', body)
    if pre is None:
        raise SystemExit(f"no login form: {body[:200]}")
    cookie = page.getheader("set-cookie", "").split(";")[0]
    form = urlencode({"token": token, "pre": pre.group(1), "next": "/"})
    conn.request(
        "POST",
        "/login/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    answer = conn.getresponse()
    answer.read()
    session = answer.getheader("set-cookie", "").split(";")[0]
    if answer.status != 303 or not session.startswith("registry_session="):
        raise SystemExit(f"token login failed: HTTP {answer.status}")
    return session


def measure(conn: http.client.HTTPConnection, path: str, cookie: str, n: int) -> list[float]:
    times = []
    for i in range(n + 3):
        began = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        took = (time.perf_counter() - began) * 1000
        if answer.status != 200:
            raise SystemExit(f"{path}: HTTP {answer.status}")
        if i >= 3:
            times.append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-entry", type=int, default=100)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--n", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        url, token, pending = seed_estate(folder, args.per_entry, args.requests)
        seeded = time.perf_counter() - began
        with registry_server(url, folder) as conn:
            cookie = log_in(conn, token)
            top = args.per_entry - args.per_entry % PROMOTE_EVERY
            pages = {
                "inbox": "/",
                "request": f"/requests/{pending}",
                "workload": "/workloads/workload-0",
                "workload at an instant": "/workloads/workload-0?at=2026-01-01T00:00:00Z",
                "entries": "/entries",
                "entry": "/entries/model-0",
                "version": f"/entries/model-0/versions/{top}",
                "audit": "/audit",
                "exports": "/exports",
            }
            rows = []
            for name, path in pages.items():
                times = measure(conn, path, cookie, args.n)
                rows.append((name, statistics.median(times), percentile(times, 99)))
    print(
        f"\n{args.per_entry * ENTRIES:,} versions, {args.requests:,} requests "
        f"(seeded in {seeded:.1f} s); {args.n} fetches a page, one keep-alive connection\n"
    )
    print("| page | p50 (ms) | p99 (ms) | under 150 ms |")
    print("| --- | --- | --- | --- |")
    for name, p50, p99 in rows:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {'yes' if p99 < TARGET_MS else 'no'} |")
    met = all(p99 < TARGET_MS for _, _, p99 in rows)
    verdict = "met" if met else "missed"
    print(f"\ntarget: every page under {TARGET_MS:.0f} ms at p50 and p99: {verdict}")


if __name__ == "__main__":
    main()
