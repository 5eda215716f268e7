"""The client's side of the verifiable ledger (DESIGN.md §12): a server's signed checkpoint
checked against a pinned key and against what this client saw before, the checkpoints a
witness keeps, and one event proven to be in a checkpoint's tree.

Nothing here trusts the server. A checkpoint must carry a valid signature by the pinned
key under the key's own name; a later checkpoint must extend every earlier one (a
consistency proof from the server, checked here). A shrink, a fork (another root for a
size already seen), a proof that does not verify or a signature by another key is a
:class:`~registry_pipeline.core.errors.Conflict`: the log contradicts what was seen.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from registry_pipeline import signatures
from registry_pipeline.atomic_files import write_atomically
from registry_pipeline.core import merkle
from registry_pipeline.core.checkpoints import (
    MAX_NOTE_BYTES,
    Checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    split_note,
)
from registry_pipeline.core.errors import BadInput, Conflict
from registry_pipeline.core.ledger import event_hash
from registry_pipeline.core.stages import Stage, placement_problem
from registry_pipeline.core.times import format_time

STATE_FORMAT = 1
MAX_PROOF_HASHES = 128
MAX_STATE_BYTES = 4 * 1024 * 1024
LOG_FILE = "log.json"
SUFFIX = ".checkpoint"


class Proofs(Protocol):
    """Where proofs come from: a server's (``RemoteRegistry.ledger``) or the local tree."""

    def inclusion(self, seq: int, *, tree_size: int | None = None) -> Any: ...

    def consistency(self, first: int, *, second: int | None = None) -> Any: ...


class Log(Proofs, Protocol):
    """A server's ledger: proofs and the signed checkpoint."""

    def checkpoint(self) -> str: ...


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _hashes(document: Mapping[str, Any]) -> list[bytes]:
    """The proof's hashes, each 32 bytes (a malformed proof is the server's contradiction)."""
    raw = document.get("hashes")
    if not isinstance(raw, list) or len(raw) > MAX_PROOF_HASHES:
        raise Conflict("the server's proof is malformed: no list of hashes")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in raw]
    except (TypeError, ValueError, binascii.Error):
        raise Conflict("the server's proof is malformed: a hash is not base64") from None
    if any(len(h) != 32 for h in hashes):
        raise Conflict("the server's proof is malformed: a hash is not 32 bytes")
    return hashes


def _doc(answer: Any) -> dict[str, Any]:
    document = answer.to_dict() if hasattr(answer, "to_dict") else answer
    if not isinstance(document, dict):
        raise Conflict("the server's proof is malformed: not a JSON object")
    return document


def open_note(note: str, key: str) -> Checkpoint:
    """The checkpoint of ``note``, signed by the pinned verifier key ``key`` under the
    key's own name (the log's origin).

    Raises:
        BadInput: ``key`` is not a verifier key. Conflict: the note is malformed, not
            signed by that key, or names another log.
    """
    name, _, _ = parse_verifier_key(key)
    try:
        checkpoint = signatures.open_checkpoint(note, key)
    except BadInput as e:  # the key parsed above: the note is what is malformed
        raise Conflict(f"the server's checkpoint is malformed: {e}") from None
    if checkpoint.origin != name:
        raise Conflict(
            f"the checkpoint is of the log {checkpoint.origin!r}, not of {name!r}, the log "
            "the pinned key signs"
        )
    return checkpoint


def check_growth(proofs: Proofs, old: Checkpoint, new: Checkpoint, *, seen: str) -> None:
    """``new`` extends ``old`` (seen ``seen``, e.g. "on 2026-12-01T09:00:00Z").

    Raises:
        Conflict: ``new`` is smaller (the log shrank), has another root for the same size
            (a fork), or the server's consistency proof does not verify (history rewritten).
    """
    if new.size < old.size:
        raise Conflict(
            f"the log shrank: the server shows {new.size} events, but {old.size} were seen {seen}"
        )
    if new.size == old.size:
        if new.root != old.root:
            raise Conflict(
                f"the log forked: the server shows another root for the same {new.size} events "
                f"than the one seen {seen}"
            )
        return
    if old.size == 0:
        return
    proof = _doc(proofs.consistency(old.size, second=new.size))
    if (proof.get("first"), proof.get("second")) != (old.size, new.size):
        raise Conflict("the server's consistency proof is for other tree sizes")
    if not merkle.verify_consistency(old.size, new.size, old.root, new.root, _hashes(proof)):
        raise Conflict(
            f"the log was rewritten: its {new.size} events do not extend the {old.size} "
            f"seen {seen} (the consistency proof fails)"
        )


def _summary(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"origin": checkpoint.origin, "size": checkpoint.size, "root": _b64(checkpoint.root)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """A checkpoint checked against the last one this client saved."""

    checkpoint: Checkpoint
    previous: Checkpoint | None
    state: Path

    def to_dict(self) -> dict[str, Any]:
        """``{origin, size, root, previous: {size, root} | null, state}``."""
        return {
            **_summary(self.checkpoint),
            "previous": _summary(self.previous) if self.previous else None,
            "state": str(self.state),
        }


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_state(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise BadInput(f"checkpoint state {path}: larger than 4 MiB")
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": STATE_FORMAT, "logs": {}}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"checkpoint state {path}: unreadable ({type(e).__name__})") from None
    if not isinstance(state, dict) or not isinstance(state.get("logs"), dict):
        raise BadInput(f"checkpoint state {path}: not a registry checkpoint state file")
    return state


def _saved(state: dict[str, Any], origin: str, path: Path) -> tuple[Checkpoint, str] | None:
    record = state["logs"].get(origin)
    if record is None:
        return None
    try:
        text, _ = split_note(record["checkpoint"])
        return parse_checkpoint(text), str(record.get("seen_at", "earlier"))
    except (BadInput, KeyError, TypeError, AttributeError):
        damaged = f"checkpoint state {path}: the saved checkpoint of {origin} is damaged"
        raise BadInput(damaged) from None


def saved_key(state: Path, url: str) -> str | None:
    """The key pinned when a checkpoint from ``url`` was last saved in ``state``."""
    for record in _read_state(state)["logs"].values():
        if isinstance(record, dict) and record.get("url") == url:
            key = record.get("key")
            return key if isinstance(key, str) else None
    return None


def _described(folder: Path) -> dict[str, Any] | None:
    described = folder / LOG_FILE
    try:
        record = json.loads(described.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError):
        raise BadInput(f"witness folder {folder}: {LOG_FILE} is damaged") from None
    if not isinstance(record, dict) or not isinstance(record.get("origin"), str):
        raise BadInput(f"witness folder {folder}: {LOG_FILE} is damaged")
    return record


def folder_key(folder: Path) -> str | None:
    """The key a witness folder was started with."""
    record = _described(folder)
    key = record.get("key") if record else None
    return key if isinstance(key, str) else None


def observe(log: Log, key: str, state: Path, *, url: str) -> Observed:
    """Fetch ``log``'s checkpoint, check it against pinned ``key`` and against the last
    checkpoint of the same log saved in ``state``, then save it there.

    Raises:
        BadInput: a malformed key or state file. Conflict: a bad signature, a shrink, a
            fork or a failed consistency proof (nothing is saved then).
    """
    note = log.checkpoint()
    current = open_note(note, key)
    with _locked(state):
        saved_state = _read_state(state)
        saved = _saved(saved_state, current.origin, state)
        previous = saved[0] if saved else None
        if saved is not None:
            check_growth(log, saved[0], current, seen=f"on {saved[1]}")
        if previous is None or current.size > previous.size:
            saved_state["logs"][current.origin] = {
                "checkpoint": note,
                "key": key,
                "url": url,
                "seen_at": format_time(datetime.now(UTC)),
            }
            write_atomically(state, json.dumps(saved_state, indent=2, sort_keys=True) + "\n")
    return Observed(checkpoint=current, previous=previous, state=state)


@dataclass(frozen=True, slots=True, kw_only=True)
class Witnessed:
    """A checkpoint a witness checked and kept."""

    checkpoint: Checkpoint
    file: Path
    new: bool
    previous: Checkpoint | None
    kept: int

    def to_dict(self) -> dict[str, Any]:
        """``{origin, size, root, file, new, previous, kept}``."""
        return {
            **_summary(self.checkpoint),
            "file": str(self.file),
            "new": self.new,
            "previous": _summary(self.previous) if self.previous else None,
            "kept": self.kept,
        }


def _kept(folder: Path) -> dict[int, Path]:
    kept = {}
    for path in folder.glob(f"*{SUFFIX}"):
        stem = path.name.removesuffix(SUFFIX)
        if stem.isdigit():
            kept[int(stem)] = path
    return kept


def _read_note(path: Path) -> Checkpoint:
    try:
        if path.stat().st_size > MAX_NOTE_BYTES:
            raise BadInput(f"witnessed checkpoint {path}: larger than a checkpoint can be")
        text, _ = split_note(path.read_text(encoding="utf-8"))
        return parse_checkpoint(text)
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"witnessed checkpoint {path}: unreadable ({type(e).__name__})") from None
    except BadInput as e:
        raise BadInput(f"witnessed checkpoint {path}: {e}") from None


def witness(log: Log, key: str, folder: Path) -> Witnessed:
    """Fetch ``log``'s checkpoint, check it against pinned ``key`` and against the newest
    checkpoint kept in ``folder``, and keep it there as ``<size>.checkpoint``.

    A fork (another root for a size already kept) is itself kept, as
    ``<size>.fork-<root>.checkpoint``: two signed heads of one size prove the log lied.

    Raises:
        BadInput: a malformed key, or ``folder`` keeps another log's checkpoints.
        Conflict: a bad signature, a shrink, a fork or a failed consistency proof.
    """
    note = log.checkpoint()
    current = open_note(note, key)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / LOG_FILE):
        record = _described(folder)
        if record is None:
            description = {"origin": current.origin, "key": key}
            write_atomically(folder / LOG_FILE, json.dumps(description) + "\n")
        elif record["origin"] != current.origin:
            raise BadInput(
                f"witness folder {folder} keeps the checkpoints of {record['origin']!r}, not "
                f"of {current.origin!r}: keep each log in its own folder"
            )
        kept = _kept(folder)
        target = folder / f"{current.size}{SUFFIX}"
        same = kept.get(current.size)
        if same is not None and _read_note(same).root != current.root:
            evidence = folder / f"{current.size}.fork-{current.root.hex()[:16]}{SUFFIX}"
            write_atomically(evidence, note)
            raise Conflict(
                f"the log forked: the server shows another root for its {current.size} "
                f"events than the one kept in {same}; the new one is kept in {evidence}"
            )
        newest = max(kept, default=0)
        if newest and newest > current.size:
            raise Conflict(
                f"the log shrank: the server shows {current.size} events, but this witness "
                f"kept {newest} ({kept[newest]})"
            )
        if same is not None:
            return Witnessed(
                checkpoint=current, file=same, new=False, previous=None, kept=len(kept)
            )
        previous = _read_note(kept[newest]) if newest else None
        if previous is not None:
            check_growth(log, previous, current, seen=f"by this witness ({kept[newest].name})")
        write_atomically(target, note)
    return Witnessed(
        checkpoint=current, file=target, new=True, previous=previous, kept=len(kept) + 1
    )


def prove_event(proofs: Proofs, seq: int, checkpoint: Checkpoint) -> dict[str, Any]:
    """The body of ledger event ``seq``, proven to be the leaf ``seq - 1`` of
    ``checkpoint``'s tree (its hash recomputed from its content).

    Raises:
        Conflict: the event is past the checkpoint, its content does not hash to the
            proven leaf, or the inclusion proof does not verify.
    """
    if not 1 <= seq <= checkpoint.size:
        raise Conflict(f"event {seq} is not in the checkpoint's {checkpoint.size} events")
    proof = _doc(proofs.inclusion(seq, tree_size=checkpoint.size))
    try:
        event = dict(proof["event"])
        prev_hash = str(event.pop("prev_hash"))
        claimed = str(proof["event_hash"])
        leaf = merkle.leaf_hash(bytes.fromhex(claimed))
    except (KeyError, TypeError, ValueError):
        raise Conflict("the server's inclusion proof is malformed") from None
    if event.get("seq") != seq or event_hash(prev_hash, event) != claimed:
        raise Conflict(f"ledger event {seq}'s content does not hash to the leaf the server proved")
    if not merkle.verify_inclusion(leaf, seq - 1, checkpoint.size, _hashes(proof), checkpoint.root):
        raise Conflict(
            f"ledger event {seq} is not in the log of {checkpoint.size} events the "
            "checkpoint signs (the inclusion proof fails)"
        )
    return event


def prove_resolution(
    proofs: Proofs, resolution: Mapping[str, Any], checkpoint: Checkpoint
) -> dict[str, Any]:
    """Prove the ledger event behind a ``resolve`` answer, and that it says what the
    answer says: the stack's version, put in production, with those approvers and request,
    at the instant the answer gives. ``{seq, action, actor, recorded_at, tree_size}``.

    Raises:
        Conflict: the event is not proven, or the stage row and the event disagree.
    """
    seq = int(resolution["ledger_seq"])
    stack = resolution["stack"]
    event = prove_event(proofs, seq, checkpoint)
    payload = event.get("payload")
    problem = placement_problem(
        str(event.get("action")),
        payload if isinstance(payload, dict) else {},
        entry=stack["entry"],
        version=stack["version"],
        stage=Stage.PRODUCTION,
        approved_by=list(resolution["approved_by"]),
        request=resolution["request"],
    )
    if problem is None and event.get("recorded_at") != resolution["since"]:
        problem = f"it was recorded at {event.get('recorded_at')}, not {resolution['since']}"
    if problem is not None:
        raise Conflict(
            f"the stage row and the ledger disagree: {resolution['workload']} runs "
            f"{stack['entry']}@{stack['version']} by the stage row, but ledger event {seq} "
            f"does not say so: {problem}"
        )
    return {
        "seq": seq,
        "action": event.get("action"),
        "actor": event.get("actor"),
        "recorded_at": event.get("recorded_at"),
        "tree_size": checkpoint.size,
    }
