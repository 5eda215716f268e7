"""Signed checkpoints and Merkle proofs from the real server, checked the way a client that
trusts only the pinned key would: the signature, the inclusion of an event, and the
consistency of what it saw before with what it sees now, which catches an operator who
rewrites an old event, rehashes the chain and rebuilds the tree."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.server import Estate, served_estate

from registry_pipeline import signatures
from registry_pipeline.core import merkle
from registry_pipeline.core.checkpoints import Checkpoint
from registry_pipeline.core.ledger import event_hash
from registry_pipeline.errors import Conflict

pytestmark = pytest.mark.integration
ORIGIN = "registry.example.com/ledger"


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Estate]:
    key = tmp_path / "checkpoint.pem"
    signatures.generate(key)
    env = {"REGISTRY_CHECKPOINT_KEY_FILE": str(key), "REGISTRY_CHECKPOINT_ORIGIN": ORIGIN}
    with served_estate(tmp_path, env=env) as served:
        yield served


def _pinned(client: httpx.Client) -> str:
    info = client.get("/api/v1/info").json()
    assert info["checkpoint"]["origin"] == ORIGIN
    return str(info["checkpoint"]["key"])


def _checkpoint(client: httpx.Client, key: str) -> Checkpoint:
    answer = client.get("/api/v1/ledger/checkpoint")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return signatures.open_checkpoint(answer.text, key)


def _consistent(client: httpx.Client, old: Checkpoint, new: Checkpoint) -> bool:
    proof = client.get(
        "/api/v1/ledger/proof/consistency", params={"first": old.size, "second": new.size}
    ).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    return merkle.verify_consistency(old.size, new.size, old.root, new.root, hashes)


def test_a_client_checks_the_signature_an_event_and_the_growth_of_the_log(
    estate: Estate,
) -> None:
    bob = estate.client("bob")
    key = _pinned(bob)
    first = _checkpoint(bob, key)
    assert first.origin == ORIGIN
    assert first.size > 10

    # An event is in the log: its hash recomputed from its content, its leaf proven.
    proof = bob.get(
        "/api/v1/ledger/proof/inclusion", params={"seq": 3, "tree_size": first.size}
    ).json()
    body = {k: v for k, v in proof["event"].items() if k != "prev_hash"}
    assert event_hash(proof["event"]["prev_hash"], body) == proof["event_hash"]
    leaf = merkle.leaf_hash(bytes.fromhex(proof["event_hash"]))
    path = [base64.b64decode(h) for h in proof["hashes"]]
    assert merkle.verify_inclusion(leaf, 2, first.size, path, first.root)

    # The log grows; the new head is consistent with the old one.
    code, _, err = estate.cli(
        "tokens", "create", "--principal", "bob@example.com", token=estate.tokens["bob"]
    )
    assert code == 0, err
    second = _checkpoint(bob, key)
    assert second.size == first.size + 1
    assert _consistent(bob, first, second)

    # A checkpoint under another key is refused.
    other = Path(estate.database.removeprefix("sqlite:///")).parent / "other.pem"
    signatures.generate(other)
    stranger = signatures.verifier_key_of(signatures.load_private(other), ORIGIN)
    with pytest.raises(Conflict, match="not signed by the pinned key"):
        signatures.open_checkpoint(bob.get("/api/v1/ledger/checkpoint").text, stranger)

    # Bad proof requests are bad input, not errors of the server.
    assert bob.get("/api/v1/ledger/proof/inclusion", params={"seq": 0}).status_code == 422
    past = bob.get("/api/v1/ledger/proof/inclusion", params={"seq": 10**9})
    assert past.status_code == 404
    backwards = bob.get("/api/v1/ledger/proof/consistency", params={"first": 5, "second": 2})
    assert backwards.status_code == 400


def test_a_rewritten_and_rehashed_history_fails_the_consistency_check(estate: Estate) -> None:
    from test_trust import reseal_from

    bob = estate.client("bob")
    key = _pinned(bob)
    seen = _checkpoint(bob, key)
    # The operator rewrites event 3's actor and recomputes every hash and the whole tree:
    # the database verifies on its own, but not against what a client saw.
    reseal_from(estate.database, 3, actor="mallory@example.com")
    now = _checkpoint(bob, key)
    assert now.size == seen.size
    assert now.root != seen.root  # same size, another root: a fork
    code, _, err = estate.cli(
        "tokens", "create", "--principal", "bob@example.com", token=estate.tokens["bob"]
    )
    assert code == 0, err
    grown = _checkpoint(bob, key)
    assert not _consistent(bob, seen, grown)


def test_a_server_without_a_key_signs_nothing(tmp_path: Path) -> None:
    with served_estate(tmp_path) as served:
        bob = served.client("bob")
        assert bob.get("/api/v1/info").json()["checkpoint"] is None
        missing = bob.get("/api/v1/ledger/checkpoint")
        assert missing.status_code == 404
        assert "signs no checkpoints" in missing.json()["detail"]
