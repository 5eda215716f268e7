"""The ledger's clients, through the real CLI against real servers: ``audit verify`` with a
pinned checkpoint key and a state file, ``audit witness``, and ``resolve --verify``. Each
lie an operator can tell is its own test: a rewritten and rehashed history, a shorter log,
two clients shown different heads of the same size, a checkpoint signed by another key,
and a stage row the ledger does not back."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import raw_rows, raw_sql
from support.server import Estate, running_server, served_estate

from registry_pipeline import signatures

pytestmark = pytest.mark.integration
ORIGIN = "registry.example.com/ledger"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    key = tmp_path / "checkpoint.pem"
    signatures.generate(key)
    return key


def server_env(key: Path) -> dict[str, str]:
    return {"REGISTRY_CHECKPOINT_KEY_FILE": str(key), "REGISTRY_CHECKPOINT_ORIGIN": ORIGIN}


@pytest.fixture
def estate(tmp_path: Path, key_file: Path) -> Iterator[Estate]:
    with served_estate(tmp_path / "estate", env=server_env(key_file)) as served:
        yield served


@pytest.fixture
def pinned(estate: Estate) -> str:
    """The key a client pins, read from /info (a real client checks it out of band)."""
    with estate.client("bob") as bob:
        return str(bob.get("/api/v1/info").json()["checkpoint"]["key"])


def state_file(estate: Estate) -> Path:
    """Where the CLI keeps the checkpoints it saw (beside its credentials)."""
    return Path(estate.database.removeprefix("sqlite:///")).parent / "checkpoints.json"


def grow(estate: Estate, name: str = "grow") -> None:
    """One more ledger event, written through the server."""
    code, _, err = estate.cli(
        "tokens",
        "create",
        "--principal",
        "bob@example.com",
        "--name",
        name,
        token=estate.tokens["carol"],
    )
    assert code == 0, err


def ledger_size(estate: Estate) -> int:
    return int(raw_rows(estate.database, "SELECT MAX(seq) FROM ledger")[0][0])


@contextmanager
def copy_served(estate: Estate, folder: Path, env: dict[str, str]) -> Iterator[Estate]:
    """Another server over a copy of the estate's database as it is now (the same tokens
    work there): what an operator showing some clients another log would run."""
    folder.mkdir()
    copy = folder / "registry.db"
    source = sqlite3.connect(estate.database.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    database = f"sqlite:///{copy}"
    with running_server(database, cwd=folder, env=env) as url:
        # The client is the same person: the same credentials folder, so the same state.
        yield dataclasses.replace(estate, url=url)


def error_line(code: int, out: str, err: str, expected: int = 4) -> str:
    assert code == expected, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def test_audit_verify_pins_the_key_saves_what_it_saw_and_checks_the_growth(
    estate: Estate, pinned: str
) -> None:
    bob = estate.tokens["bob"]
    code, out, err = estate.cli("audit", "verify", "--key", pinned, token=bob)
    assert code == 0, err
    assert "ledger ok" in out
    assert f"checkpoint ok: {ORIGIN} at {ledger_size(estate)} events, first seen" in out
    saved = json.loads(state_file(estate).read_text())["logs"][ORIGIN]
    assert saved["key"] == pinned
    assert saved["url"] == estate.url
    assert signatures.open_checkpoint(saved["checkpoint"], pinned).size == ledger_size(estate)

    # Later runs use the key pinned for this server, and check the log grew from there.
    before = ledger_size(estate)
    grow(estate)
    code, out, err = estate.cli("--json", "audit", "verify", token=bob)
    assert code == 0, err
    seen = json.loads(out)["checkpoint"]
    assert (seen["previous"]["size"], seen["size"]) == (before, before + 1)
    code, out, err = estate.cli("audit", "verify", token=bob)
    assert f"consistent with the {before + 1} seen before" in out

    # Without a pinned key the server's own word is all there is, and the CLI says so.
    state_file(estate).unlink()
    code, out, err = estate.cli("audit", "verify", token=bob)
    assert code == 0
    assert "ledger ok" in out
    assert "pin its checkpoint key" in err


def test_a_rewritten_and_rehashed_history_fails_the_clients_check(
    estate: Estate, pinned: str
) -> None:
    from test_trust import reseal_from

    bob = estate.tokens["bob"]
    code, _, err = estate.cli("audit", "verify", "--key", pinned, token=bob)
    assert code == 0, err
    saved = state_file(estate).read_text()
    # The operator rewrites event 3's actor and recomputes every hash and the tree: the
    # database verifies on its own, and the log goes on growing.
    reseal_from(estate.database, 3, actor="mallory@example.com")
    grow(estate)
    code, out, err = estate.cli("--json", "audit", "verify", "--key", pinned, token=bob)
    line = error_line(code, out, err)
    assert "the log was rewritten" in line
    assert "consistency proof fails" in line
    assert state_file(estate).read_text() == saved  # what was seen stays as it was
    # The database, checked on its own, vouches for its rewritten chain and tree.
    code, out, err = estate.cli("audit", "verify", actor="carol@example.com")
    assert code == 0, err
    assert "ledger ok" in out


def test_a_server_showing_a_shorter_log_is_caught(
    estate: Estate, pinned: str, key_file: Path, tmp_path: Path
) -> None:
    bob = estate.tokens["bob"]
    with copy_served(estate, tmp_path / "old", server_env(key_file)) as older:
        grow(estate)
        code, _, err = estate.cli("audit", "verify", "--key", pinned, token=bob)
        assert code == 0, err
        # The same log, one event shorter: what a server restored from a backup shows.
        code, out, err = older.cli("audit", "verify", "--key", pinned, token=bob)
        line = error_line(code, out, err)
        assert "the log shrank" in line
        assert f"shows {ledger_size(estate) - 1} events" in line
        code, out, err = older.cli(
            "audit", "witness", "--out", str(tmp_path / "w"), "--key", pinned, token=bob
        )
        assert code == 0, err
        code, out, err = estate.cli(
            "audit", "witness", "--out", str(tmp_path / "w"), "--key", pinned, token=bob
        )
        assert code == 0, err
        assert "consistent with" in out
        code, out, err = older.cli("audit", "witness", "--out", str(tmp_path / "w"), token=bob)
        assert "the log shrank" in error_line(code, out, err)


def test_two_clients_shown_different_heads_of_the_same_size(
    estate: Estate, pinned: str, key_file: Path, tmp_path: Path
) -> None:
    bob, carol_token = estate.tokens["bob"], estate.tokens["carol"]
    with copy_served(estate, tmp_path / "fork", server_env(key_file)) as forked:
        grow(estate, "one")
        grow(forked, "another")
        mine, theirs = tmp_path / "bob-witness", tmp_path / "carol-witness"
        code, out, err = estate.cli(
            "audit", "witness", "--out", str(mine), "--key", pinned, token=bob
        )
        assert code == 0, err
        assert "witnessed" in out
        code, out, err = forked.cli(
            "--json", "audit", "witness", "--out", str(theirs), "--key", pinned, token=carol_token
        )
        assert code == 0, err
        size = json.loads(out)["size"]
        # Each witness holds a validly signed head of the same size; they disagree.
        a = (mine / f"{size}.checkpoint").read_text()
        b = (theirs / f"{size}.checkpoint").read_text()
        assert a != b
        assert (
            signatures.open_checkpoint(a, pinned).size == signatures.open_checkpoint(b, pinned).size
        )
        # Shown the other head, a witness exits 4 and keeps it as evidence.
        code, out, err = forked.cli("audit", "witness", "--out", str(mine), token=bob)
        line = error_line(code, out, err)
        assert "the log forked" in line
        assert f"its {size} events" in line
        evidence = list(mine.glob(f"{size}.fork-*.checkpoint"))
        assert len(evidence) == 1
        assert evidence[0].read_text() == b
        # A client that checked one head refuses the other.
        code, _, err = estate.cli("audit", "verify", "--key", pinned, token=bob)
        assert code == 0, err
        code, out, err = forked.cli("audit", "verify", "--key", pinned, token=bob)
        assert "the log forked" in error_line(code, out, err)


def test_a_checkpoint_signed_by_another_key_is_refused(
    estate: Estate, pinned: str, tmp_path: Path
) -> None:
    bob = estate.tokens["bob"]
    other = tmp_path / "other.pem"
    signatures.generate(other)
    with copy_served(estate, tmp_path / "impostor", server_env(other)) as impostor:
        code, out, err = impostor.cli("audit", "verify", "--key", pinned, token=bob)
        assert "not signed by the pinned key" in error_line(code, out, err)
        assert not state_file(estate).exists()
        code, out, err = impostor.cli(
            "audit", "witness", "--out", str(tmp_path / "w"), "--key", pinned, token=bob
        )
        assert "not signed by the pinned key" in error_line(code, out, err)
        assert not list((tmp_path / "w").glob("*.checkpoint"))
        code, out, err = impostor.cli(
            "resolve", "customer-support", "--verify", "--key", pinned, token=bob
        )
        assert "not signed by the pinned key" in error_line(code, out, err)


def test_resolve_verify_proves_the_promotion_and_catches_a_stage_row_the_ledger_does_not_back(
    estate: Estate, pinned: str
) -> None:
    bob = estate.tokens["bob"]
    code, out, err = estate.cli(
        "--json", "resolve", "customer-support", "--verify", "--key", pinned, token=bob
    )
    assert code == 0, err
    answer = json.loads(out)
    proven = answer["verified"]
    assert proven["seq"] == answer["ledger_seq"]
    assert proven["action"] == "promotion.apply"
    assert proven["checkpoint"]["origin"] == ORIGIN
    code, out, err = estate.cli("resolve", "customer-support", "--verify", token=bob)
    assert code == 0, err
    assert f"verified: ledger event {answer['ledger_seq']} (promotion.apply" in out
    code, out, err = estate.cli("resolve", "customer-support", "--verify", actor="bob@example.com")
    assert code == 0, err
    assert "the local ledger's tree" in out

    # Behind the registry's back, the production row is given another approver.
    raw_sql(
        estate.database,
        "UPDATE stage_assignments SET approved_by = :who "
        "WHERE entry = 'support-bot' AND stage = 'production' AND effective_to IS NULL",
        who=json.dumps(["mallory@example.com"]),
    )
    # The server answers from memory until the ledger moves; any change moves it.
    moved = estate.cli("tokens", "create", "--name", "after-tampering", token=bob)
    assert moved[0] == 0, moved[2]
    code, out, err = estate.cli("resolve", "customer-support", token=bob)
    assert code == 0
    assert "mallory@example.com" in out
    remote = estate.cli("resolve", "customer-support", "--verify", "--key", pinned, token=bob)
    local = estate.cli("resolve", "customer-support", "--verify", actor="bob@example.com")
    for code, out, err in (remote, local):
        line = error_line(code, out, err)
        assert "the stage row and the ledger disagree" in line
        assert "mallory@example.com" in line

    # A row pointing at another event is caught the same way.
    raw_sql(
        estate.database,
        "UPDATE stage_assignments SET approved_by = :who, ledger_seq = 2 "
        "WHERE entry = 'support-bot' AND stage = 'production' AND effective_to IS NULL",
        who=json.dumps(answer["approved_by"]),
    )
    moved = estate.cli("tokens", "create", "--name", "after-tampering-again", token=bob)
    assert moved[0] == 0, moved[2]
    code, out, err = estate.cli("resolve", "customer-support", "--verify", token=bob)
    assert "ledger event 2 does not say so" in error_line(code, out, err)


def test_the_clients_refuse_bad_input_with_one_line(
    estate: Estate, pinned: str, tmp_path: Path
) -> None:
    bob = estate.tokens["bob"]
    code, out, err = estate.cli("audit", "verify", "--key", "not-a-key", token=bob)
    assert "checkpoint key is written" in error_line(code, out, err, expected=2)
    code, out, err = estate.cli("resolve", "customer-support", "--verify", token=bob)
    assert "checkpoint key" in error_line(code, out, err, expected=2)
    code, out, err = estate.cli("resolve", "customer-support", "--key", pinned, token=bob)
    assert "add --verify" in error_line(code, out, err, expected=2)
    code, out, err = estate.cli("audit", "verify", "--key", pinned, actor="bob@example.com")
    assert "REGISTRY_URL" in error_line(code, out, err, expected=2)
    code, out, err = estate.cli("audit", "witness", "--out", str(tmp_path / "w"), token=bob)
    assert "pin the log's checkpoint key" in error_line(code, out, err, expected=2)
    state_file(estate).write_text("{not json")
    code, out, err = estate.cli("audit", "verify", "--key", pinned, token=bob)
    assert "checkpoint state" in error_line(code, out, err, expected=2)
    other = tmp_path / "other-log"
    other.mkdir()
    (other / "log.json").write_text(json.dumps({"origin": "another.example/log", "key": pinned}))
    code, out, err = estate.cli("audit", "witness", "--out", str(other), token=bob)
    assert "keep each log in its own folder" in error_line(code, out, err, expected=2)
