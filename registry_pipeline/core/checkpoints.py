"""Checkpoints of the ledger's Merkle tree in the C2SP ``tlog-checkpoint`` format, as
C2SP ``signed-note`` texts (the byte layout only; signing lives in
:mod:`registry_pipeline.signatures`).

A checkpoint's text is ``<origin>\\n<tree size>\\n<base64 root>\\n``; a signed note adds a
blank line and one line per signature, ``\\u2014 <key name> <base64(key id || signature)>``.
An Ed25519 key's id is the first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``;
its verifier key text is ``<name>+<hex key id>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from registry_pipeline.core.errors import BadInput

DASH = "\u2014 "
ED25519 = b"\x01"
MAX_NOTE_BYTES = 16384


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        """The checkpoint body (what is signed)."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode('ascii')}\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


def valid_name(name: str) -> bool:
    """A key name or origin: non-empty, no spaces, no ``+``."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of an Ed25519 key called ``name``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The key as a verifier key text (``name+hexid+base64``)."""
    encoded = base64.b64encode(ED25519 + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{what} is not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise BadInput(f"{what} is not canonical base64")
    return raw


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """``(name, key id, public key)`` of a verifier key text.

    Raises:
        BadInput: not ``name+hexid+base64(0x01 || 32 bytes)``, or the id does not match.
    """
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not valid_name(parts[0]) or len(parts[1]) != 8:
        raise BadInput("a checkpoint key is written NAME+KEYID+BASE64, as the server shows it")
    raw = _b64(parts[2], "the checkpoint key")
    if len(raw) != 33 or raw[:1] != ED25519:
        raise BadInput("the checkpoint key is not an Ed25519 key")
    name, public = parts[0], raw[1:]
    if key_id(name, public).hex() != parts[1].lower():
        raise BadInput("the checkpoint key's id does not match its name and key")
    return name, bytes.fromhex(parts[1]), public


def signature_line(name: str, public_key: bytes, signature: bytes) -> str:
    """One note signature line."""
    payload = base64.b64encode(key_id(name, public_key) + signature).decode("ascii")
    return f"{DASH}{name} {payload}\n"


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """The signed text of a note and its signature lines.

    Raises:
        BadInput: not a signed note (too long, no blank line, a malformed signature line).
    """
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES or "\r" in note:
        raise BadInput("not a signed note: too long, or has carriage returns")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise BadInput("not a signed note: no blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    found = []
    for line in block.splitlines():
        if not line.startswith(DASH):
            raise BadInput("not a signed note: a signature line does not start with an em dash")
        name, _, encoded = line[len(DASH) :].partition(" ")
        raw = _b64(encoded, "a note signature")
        if not valid_name(name) or len(raw) < 5:
            raise BadInput("not a signed note: a malformed signature line")
        found.append(NoteSignature(name=name, key_id=raw[:4], signature=raw[4:]))
    if not found or len(found) > 100:
        raise BadInput("not a signed note: no signatures, or too many")
    return text, found


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a note's text holds.

    Raises:
        BadInput: not origin, decimal size, base64 32-byte root, each on its own line.
    """
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
        raise BadInput("not a checkpoint: it needs an origin, a size and a root, a line each")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or (size != "0" and size.startswith("0")) or len(size) > 19:
        raise BadInput(f"not a checkpoint: tree size {size[:20]!r}")
    hashed = _b64(root, "the checkpoint's root")
    if len(hashed) != 32:
        raise BadInput("not a checkpoint: its root is not 32 bytes")
    return Checkpoint(origin=origin, size=int(size), root=hashed)
