"""Delivery survives the server: ``kill -9`` mid-delivery leaves no gap at the receiver, two
servers on one PostgreSQL deliver one at a time and hand over when the deliverer dies, and
the event feed's long poll answers a new event at once without spending CPU while idle."""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import EXAMPLES, raw_rows
from support.receivers import receiving, wait_for
from support.server import running_server, served_estate, start_server, stop_server

from registry_pipeline.client import RemoteRegistry
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

FAST = {
    "REGISTRY_ALLOW_PRIVATE_WEBHOOKS": "1",
    "REGISTRY_WEBHOOK_RETRY": "100ms,200ms,300ms",
}


def _head(database: str) -> int:
    return int(raw_rows(database, "SELECT seq FROM ledger_head")[0][0])


def _delivered(database: str, webhook: int) -> int:
    query = f"SELECT delivered_seq FROM webhooks WHERE id = {webhook}"
    return int(raw_rows(database, query)[0][0])


class Versions:
    """Registers new support-prompt versions on the database itself (as its owner)."""

    def __init__(self, database: str, root: Path) -> None:
        self.owner = Registry.open(database, actor="support-ml@example.com")
        self.root = root
        self.n = 0

    def add(self, count: int = 1) -> None:
        for _ in range(count):
            self.n += 1
            source = self.root / "versions" / str(self.n)
            source.mkdir(parents=True)
            (source / "prompt.j2").write_text(f"version {self.n}\n")
            self.owner.register("support-prompt", source)


def _subscribed(database: str, url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """A webhook for every event, added by the operator; the seq it starts after."""
    monkeypatch.setenv("REGISTRY_ALLOW_PRIVATE_WEBHOOKS", "1")
    added = Registry.open(database, actor="operator").webhooks.add(url, events=["*"])
    return added.info.id


def test_a_server_killed_mid_delivery_ten_times_leaves_no_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    Registry.init(database, catalog=EXAMPLES, actor="carol@example.com")
    rng = random.Random(14)
    with receiving(lambda _: (0.08, 200)) as receiver:  # six events outlast the pause
        webhook = _subscribed(database, receiver.url, monkeypatch)
        start = _delivered(database, webhook)
        versions = Versions(database, tmp_path)
        in_flight = 0
        for _ in range(10):
            process, _url = start_server(database, cwd=tmp_path, env=FAST)
            versions.add(6)
            time.sleep(rng.uniform(0.0, 0.4))
            in_flight += _delivered(database, webhook) < _head(database)
            process.kill()  # SIGKILL: no shutdown, no lease released
            process.wait()
        assert in_flight >= 5  # most kills landed with events still to deliver
        with running_server(database, cwd=tmp_path, env=FAST):
            wait_for(
                lambda: _delivered(database, webhook) >= _head(database),
                timeout=120,
                what="delivery after the last restart",
            )
    expected = set(range(start + 1, _head(database) + 1))
    got = receiver.seqs()
    assert expected - set(got) == set()  # nothing missing
    assert set(got) == expected
    print(f"{len(got) - len(set(got))} duplicates over {len(expected)} events and 10 kills")


def _dispatching(url: str) -> bool:
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.TransportError:
        return False
    return "registry_webhook_dispatcher_active 1.0" in text


@pytest.mark.postgres
def test_two_servers_on_one_postgres_deliver_one_at_a_time_and_hand_over_when_one_dies(
    pg_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = str(pg_cluster.create_database("dispatch_handover"))
    Registry.init(database, catalog=EXAMPLES, actor="carol@example.com")
    with receiving(lambda _: (0.01, 200)) as receiver:
        webhook = _subscribed(database, receiver.url, monkeypatch)
        start = _delivered(database, webhook)
        versions = Versions(database, tmp_path)
        servers = [start_server(database, cwd=tmp_path, env=FAST) for _ in range(2)]
        try:
            urls = [url for _, url in servers]
            wait_for(lambda: any(_dispatching(u) for u in urls), timeout=30, what="a dispatcher")
            samples = []
            for _ in range(15):
                versions.add()
                samples.append(tuple(_dispatching(u) for u in urls))
                time.sleep(0.1)
            assert all(sum(s) == 1 for s in samples), samples  # exactly one, all along
            wait_for(
                lambda: _delivered(database, webhook) >= _head(database),
                timeout=60,
                what="delivery",
            )
            holder = 0 if samples[-1][0] else 1
            process = servers[holder][0]
            process.kill()
            process.wait()
            killed_at = time.monotonic()
            versions.add(10)
            other = urls[1 - holder]
            wait_for(lambda: _dispatching(other), timeout=30, what="the handover")
            handover = time.monotonic() - killed_at
            wait_for(
                lambda: _delivered(database, webhook) >= _head(database),
                timeout=60,
                what="delivery after the handover",
            )
        finally:
            for process, _ in servers:
                if process.poll() is None:
                    stop_server(process)
    assert handover < 30
    expected = set(range(start + 1, _head(database) + 1))
    assert set(receiver.seqs()) == expected
    print(f"handover after {handover:.1f} s")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_events_follow_prints_a_new_event_within_a_second_and_idle_waiters_cost_no_cpu(
    tmp_path: Path,
) -> None:
    with served_estate(tmp_path) as estate:
        head = _head(estate.database)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env |= {"REGISTRY_URL": estate.url, "REGISTRY_TOKEN": estate.tokens["alice"]}
        follower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "registry_pipeline.cli",
                "--json",
                "events",
                "--after",
                str(head),
                "--follow",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in follower.stdout],  # type: ignore[union-attr]
            daemon=True,
        ).start()
        owner = RemoteRegistry(estate.url, token=estate.tokens["support-ml"])
        try:
            time.sleep(2.0)  # the follower is waiting in its long poll
            latencies = []
            for n in range(3):
                source = tmp_path / "follow" / str(n)
                source.mkdir(parents=True)
                (source / "prompt.j2").write_text(f"follow {n}\n")
                registered = owner.register("support-prompt", source)
                committed = time.monotonic()
                event = json.loads(lines.get(timeout=30))
                latencies.append(time.monotonic() - committed)
                assert event["type"] == "version.register"
                assert event["data"]["version"] == registered.version
                time.sleep(0.5)
        finally:
            follower.terminate()
            follower.wait(timeout=30)
        assert sorted(latencies)[1] < 1.0, latencies

        # Twenty clients waiting in long polls: the server sleeps (no busy loop).
        after = _head(estate.database)
        waiting = [
            threading.Thread(
                target=lambda: httpx.get(
                    f"{estate.url}/api/v1/events",
                    params={"after": after, "wait": 10},
                    headers={"Authorization": f"Bearer {estate.tokens['alice']}"},
                    timeout=30,
                )
            )
            for _ in range(20)
        ]
        for thread in waiting:
            thread.start()
        time.sleep(1.5)
        before = _cpu_seconds(estate.pid)
        time.sleep(5.0)
        spent = _cpu_seconds(estate.pid) - before
        for thread in waiting:
            thread.join(timeout=30)
        assert spent < 0.5, f"{spent:.2f} s of CPU in 5 s with 20 idle long polls"
        print(f"median follow latency {sorted(latencies)[1] * 1000:.0f} ms; idle CPU {spent:.3f} s")
