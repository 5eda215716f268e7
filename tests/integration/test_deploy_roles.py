"""deploy/roles.sql on a real PostgreSQL: the server's role writes through the registry, the
analysts' role reads and cannot write or see token hashes or webhook secrets."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import CATALOG
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool
from support.pgcluster import find_bindir

from registry_pipeline.service import Registry
from registry_pipeline.service.dispatch import DispatchConfig, Dispatcher

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROLES = Path(__file__).resolve().parents[2] / "deploy" / "roles.sql"


def test_the_roles_grant_what_each_needs_and_no_more(pg_cluster, monkeypatch) -> None:
    owner_url = pg_cluster.create_database(f"roles_{uuid.uuid4().hex[:12]}")
    Registry.init(owner_url, catalog=CATALOG, actor="carol@example.com")
    url = make_url(owner_url)
    psql = find_bindir() / "psql"
    done = subprocess.run(
        [
            str(psql),
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "server_password='s3rver'",
            "-v",
            "analyst_password='an4lyst'",
            "-h",
            str(url.host),
            "-p",
            str(url.port),
            "-U",
            str(url.username),
            "-d",
            str(url.database),
            "-f",
            str(ROLES),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    server_url = url.set(username="registry_server", password="s3rver")
    server = Registry.open(server_url.render_as_string(hide_password=False), actor="operator")
    created = server.tokens.create(principal="bob@example.com", name="t")
    server.tokens.revoke(created.info.id)
    monkeypatch.setenv("REGISTRY_ALLOW_PRIVATE_WEBHOOKS", "1")
    hook = server.webhooks.add("http://127.0.0.1:9/hooks", events=["*"])
    dispatcher = Dispatcher(server.store, DispatchConfig(allow_private=True, renew_every=0.1))
    dispatcher.start()
    try:
        deadline = time.monotonic() + 30
        while not server.webhooks.deliveries(hook.info.id) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        dispatcher.stop()
    [attempt] = server.webhooks.deliveries(hook.info.id)[-1:]
    assert attempt.error  # port 9 on loopback refuses: an attempt logged by the server role
    assert server.verify().ok
    analyst = create_engine(
        url.set(username="registry_analyst", password="an4lyst"), poolclass=NullPool
    )
    with analyst.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger")).scalar_one() >= 3
        assert conn.execute(text("SELECT url FROM webhooks")).scalars().all() == [
            "http://127.0.0.1:9/hooks"
        ]
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELECT * FROM tokens"))
    with analyst.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("SELECT secret FROM webhooks"))
    with analyst.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("DELETE FROM ledger"))
    server_engine = create_engine(server_url, poolclass=NullPool)
    with server_engine.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("UPDATE ledger SET actor = 'mallory'"))
    with server_engine.connect() as conn, pytest.raises(ProgrammingError):
        conn.execute(text("DROP TABLE ledger"))
    analyst.dispose()
    server_engine.dispose()
