"""The hash-chained ledger (core/ledger.py): sealing and chain verification."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from typing import Any

import pytest

from registry_pipeline.core.ledger import GENESIS, LedgerEvent, event_hash, seal, verify_chain

pytestmark = pytest.mark.unit

HEX64 = re.compile(r"[0-9a-f]{64}")


def make_event(seq: int, prev_hash: str, **changes: Any) -> LedgerEvent:
    fields: dict[str, Any] = {
        "seq": seq,
        "recorded_at": f"2026-11-27T10:00:{seq:02d}.000000Z",
        "actor": "alice@example.com",
        "action": "version.registered",
        "subject": f"support-lora@{seq}",
        "payload": {"digest": f"{seq:064x}", "files": seq, "note": "ok"},
        "prev_hash": prev_hash,
    }
    fields.update(changes)
    return seal(LedgerEvent(**fields))


def make_chain(length: int = 10) -> list[LedgerEvent]:
    events: list[LedgerEvent] = []
    prev = GENESIS
    for seq in range(1, length + 1):
        event = make_event(seq, prev)
        events.append(event)
        prev = event.hash
    return events


# --- sealing ------------------------------------------------------------------------------


def test_genesis_is_64_zeros() -> None:
    assert GENESIS == "0" * 64


def test_seal_sets_hash_from_prev_hash_and_body() -> None:
    event = make_event(1, GENESIS)
    assert HEX64.fullmatch(event.hash)
    assert event.hash == event_hash(GENESIS, event.body())


def test_seal_is_deterministic() -> None:
    assert make_event(1, GENESIS) == make_event(1, GENESIS)


def test_hash_depends_on_prev_hash() -> None:
    assert make_event(1, GENESIS).hash != make_event(1, "f" * 64).hash


def test_payload_key_order_does_not_change_the_hash() -> None:
    one = make_event(1, GENESIS, payload={"a": 1, "b": [1, 2]})
    two = make_event(1, GENESIS, payload={"b": [1, 2], "a": 1})
    assert one.hash == two.hash


def test_chain_links_each_event_to_the_one_before() -> None:
    events = make_chain()
    assert events[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash


# --- verification -------------------------------------------------------------------------


def test_intact_chain_verifies() -> None:
    events = make_chain()
    result = verify_chain(events)
    assert result.ok
    assert result.events == 10
    assert result.head == events[-1].hash
    assert result.broken_at is None
    assert result.problem is None


def test_empty_chain_verifies_with_genesis_head() -> None:
    result = verify_chain([])
    assert result.ok
    assert result.events == 0
    assert result.head == GENESIS
    assert result.broken_at is None


def test_verify_accepts_any_iterable() -> None:
    events = make_chain(3)
    assert verify_chain(iter(events)).ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payload", {"digest": "f" * 64, "files": 5, "note": "ok"}),
        ("payload", {}),
        ("actor", "mallory@example.com"),
        ("action", "version.deleted"),
        ("subject", "support-lora@99"),
        ("recorded_at", "2026-11-27T09:59:59.000000Z"),
        ("hash", "f" * 64),
    ],
)
@pytest.mark.parametrize("position", [1, 5, 10])
def test_edited_event_breaks_the_chain_at_its_seq(field: str, value: Any, position: int) -> None:
    events = make_chain()
    events[position - 1] = replace(events[position - 1], **{field: value})
    result = verify_chain(events)
    assert not result.ok
    assert result.broken_at == position
    assert result.problem
    assert result.head == (events[position - 2].hash if position > 1 else GENESIS)


def test_edited_payload_value_type_is_detected() -> None:
    events = make_chain()
    events[4] = replace(events[4], payload={**events[4].payload, "files": "5"})
    result = verify_chain(events)
    assert (result.ok, result.broken_at) == (False, 5)
    assert "edited" in (result.problem or "")


def test_edited_event_with_recomputed_hash_breaks_the_next_link() -> None:
    events = make_chain()
    events[4] = seal(replace(events[4], actor="mallory@example.com"))
    result = verify_chain(events)
    assert not result.ok
    assert result.broken_at == 6
    assert "prev_hash" in (result.problem or "")


def test_fully_rewritten_chain_verifies_but_has_a_different_head() -> None:
    original = make_chain()
    rewritten: list[LedgerEvent] = []
    prev = GENESIS
    for event in original:
        actor = "mallory@example.com" if event.seq == 5 else event.actor
        forged = seal(replace(event, actor=actor, prev_hash=prev))
        rewritten.append(forged)
        prev = forged.hash
    result = verify_chain(rewritten)
    assert result.ok
    assert result.head != verify_chain(original).head


@pytest.mark.parametrize("deleted", [1, 5, 9])
def test_deleted_event_is_detected_after_the_gap(deleted: int) -> None:
    events = make_chain()
    del events[deleted - 1]
    result = verify_chain(events)
    assert not result.ok
    assert result.broken_at == deleted + 1
    assert "deleted or inserted" in (result.problem or "")
    assert result.head == (events[deleted - 2].hash if deleted > 1 else GENESIS)


def test_deleted_event_with_renumbered_successors_is_detected() -> None:
    events = make_chain()
    del events[4]
    events[4:] = [replace(e, seq=e.seq - 1) for e in events[4:]]
    result = verify_chain(events)
    assert not result.ok
    assert result.broken_at == 5
    assert "prev_hash" in (result.problem or "")


def test_truncated_tail_verifies_but_its_head_moves_back() -> None:
    events = make_chain()
    result = verify_chain(events[:-1])
    assert result.ok
    assert result.events == 9
    assert result.head == events[-2].hash != events[-1].hash


def test_inserted_event_is_detected() -> None:
    events = make_chain()
    forged = make_event(6, events[4].hash, actor="mallory@example.com")
    tampered = [*events[:5], forged, *events[5:]]
    result = verify_chain(tampered)
    assert not result.ok
    assert result.broken_at == 6
    assert result.events == 7
    assert "deleted or inserted" in (result.problem or "")


def test_inserted_event_with_renumbered_successors_is_detected() -> None:
    events = make_chain()
    forged = make_event(6, events[4].hash, actor="mallory@example.com")
    tampered = [*events[:5], forged, *(replace(e, seq=e.seq + 1) for e in events[5:])]
    result = verify_chain(tampered)
    assert not result.ok
    assert result.broken_at == 7
    assert result.head == forged.hash


def test_reordered_events_are_detected() -> None:
    events = make_chain()
    events[3], events[4] = events[4], events[3]
    result = verify_chain(events)
    assert not result.ok
    assert result.broken_at == 5


def test_reordered_events_with_swapped_seqs_are_detected() -> None:
    events = make_chain()
    fourth, fifth = events[3], events[4]
    events[3], events[4] = replace(fifth, seq=4), replace(fourth, seq=5)
    result = verify_chain(events)
    assert not result.ok
    assert result.broken_at == 4


def test_chain_not_starting_at_genesis_is_detected() -> None:
    events = make_chain()
    result = verify_chain(events[1:])
    assert not result.ok
    assert result.broken_at == 2


def test_first_event_with_wrong_prev_hash_is_detected() -> None:
    first = make_event(1, "f" * 64)
    result = verify_chain([first])
    assert not result.ok
    assert result.broken_at == 1
    assert "prev_hash" in (result.problem or "")
