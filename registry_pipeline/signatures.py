"""Ed25519 signatures on approvals: key generation, signing, verification."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry_pipeline.core.checkpoints import (
    Checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    signature_line,
    split_note,
    verifier_key,
)
from registry_pipeline.core.digests import canonical_json
from registry_pipeline.errors import BadInput, Step


def generate(path: Path) -> str:
    """Write a new Ed25519 private key (PEM, mode 0600) to ``path``; return the public key
    as base64 text, ready for the policy's ``approver_keys``.

    Raises:
        BadInput: ``path`` exists already (keys are never overwritten).
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        with path.open("xb") as handle:
            path.chmod(0o600)
            handle.write(pem)
    except FileExistsError:
        raise BadInput(
            f"{str(path)!r} exists; keys are never overwritten, pick another path"
        ) from None
    except OSError as e:
        raise BadInput(f"cannot write key to {str(path)!r}: {e.strerror}") from e
    return public_text(key.public_key())


def public_text(key: Ed25519PublicKey) -> str:
    """The raw public key as base64 text."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PEM) from ``path``.

    Raises:
        BadInput: the file is missing or is not an unencrypted Ed25519 PEM key.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInput(f"cannot read key file {str(path)!r}: {e.strerror}") from e
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise BadInput(
            f"{str(path)!r} is not an unencrypted PEM private key", step=Step.MAKE_KEY
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"{str(path)!r} is not an Ed25519 key", step=Step.MAKE_KEY)
    return key


def sign(key: Ed25519PrivateKey, payload: Mapping[str, Any]) -> str:
    """Sign the canonical JSON of ``payload``; base64 signature text."""
    return base64.b64encode(key.sign(canonical_json(payload))).decode("ascii")


def verify(public_key: str, payload: Mapping[str, Any], signature: str) -> bool:
    """True when ``signature`` is ``public_key``'s signature of ``payload``."""
    try:
        raw = base64.b64decode(public_key, validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
        key.verify(base64.b64decode(signature, validate=True), canonical_json(payload))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sign_checkpoint(key: Ed25519PrivateKey, checkpoint: Checkpoint) -> str:
    """``checkpoint`` as a signed note, signed by ``key`` under the checkpoint's origin."""
    text = checkpoint.text()
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signature = key.sign(text.encode("utf-8"))
    return text + "\n" + signature_line(checkpoint.origin, public, signature)


def verifier_key_of(key: Ed25519PrivateKey, name: str) -> str:
    """The verifier key text of ``key`` under ``name``."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return verifier_key(name, public)


def open_checkpoint(note: str, key: str) -> Checkpoint:
    """The checkpoint of a signed note whose signature by verifier key ``key`` is valid.

    Raises:
        BadInput: the note or the key is malformed.
        Conflict: the note carries no valid signature by that key.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from registry_pipeline.errors import Conflict

    name, ident, public = parse_verifier_key(key)
    text, found = split_note(note)
    ours = [s for s in found if s.name == name and s.key_id == ident]
    if not ours:
        raise Conflict(f"the checkpoint is not signed by the pinned key {name}+{ident.hex()}")
    verifier = Ed25519PublicKey.from_public_bytes(public)
    for signature in ours:
        try:
            verifier.verify(signature.signature, text.encode("utf-8"))
        except InvalidSignature:
            raise Conflict(
                f"the checkpoint's signature by {name}+{ident.hex()} does not verify"
            ) from None
    return parse_checkpoint(text)
