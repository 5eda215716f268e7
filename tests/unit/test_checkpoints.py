"""Checkpoints as C2SP signed notes, against the published vectors: the Go sumdb note
tests (golang.org/x/mod/sumdb/note, a deterministic Ed25519 signature reproduced byte for
byte) and a checkpoint-shaped note of the Go checksum database's client tests."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry_pipeline import signatures
from registry_pipeline.core.checkpoints import (
    Checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    signature_line,
    split_note,
)
from registry_pipeline.errors import BadInput, Conflict

pytestmark = pytest.mark.unit

# golang.org/x/mod/sumdb/note/note_test.go, TestSign
PETER_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
# golang.org/x/mod/sumdb/client_test.go: a tree head signed as a note
SUMDB_VKEY = "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6"
SUMDB_NOTE = (
    "go.sum database tree\n6\nwc4SkQt52o5W2nQ8To2ARs+mWuUJjss+sdleoiqxMmM=\n\n"
    "— localhost.localdev/sumdb AAAMZ6oRNswlEZ6ZZhxrCvgl1MBy+nusq4JU+TG6Fe2NihWLqOzb+y2c2kz"
    "RLoCr4tvw9o36ucQEnhc20e4nA4Qc/wc=\n"
)


def test_signing_reproduces_the_go_vector_byte_for_byte() -> None:
    key = Ed25519PrivateKey.from_private_bytes(PETER_SEED)
    assert signatures.verifier_key_of(key, "PeterNeumann") == PETER_VKEY
    name, ident, public = parse_verifier_key(PETER_VKEY)
    line = signature_line(name, public, key.sign(PETER_TEXT.encode()))
    assert line == PETER_SIG
    text, found = split_note(PETER_TEXT + "\n" + line)
    assert text == PETER_TEXT
    assert [(s.name, s.key_id) for s in found] == [("PeterNeumann", ident)]


def test_a_published_tree_head_opens_with_its_key_and_only_with_it() -> None:
    checkpoint = signatures.open_checkpoint(SUMDB_NOTE, SUMDB_VKEY)
    assert checkpoint.size == 6
    assert checkpoint.origin == "go.sum database tree"
    with pytest.raises(Conflict, match="not signed by the pinned key"):
        signatures.open_checkpoint(SUMDB_NOTE, PETER_VKEY)
    forged = SUMDB_NOTE.replace("\n6\n", "\n7\n")
    with pytest.raises(Conflict, match="does not verify"):
        signatures.open_checkpoint(forged, SUMDB_VKEY)


def test_our_checkpoints_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    head = Checkpoint(origin="registry.example.com/ledger", size=42, root=bytes(range(32)))
    note = signatures.sign_checkpoint(key, head)
    assert note.startswith("registry.example.com/ledger\n42\n")
    vkey = signatures.verifier_key_of(key, head.origin)
    assert signatures.open_checkpoint(note, vkey) == head
    assert parse_checkpoint(head.text()) == head


@pytest.mark.parametrize(
    "note",
    [
        "no blank line\n— a AAAA\n",
        "origin\n1\nroot\n\n- a AAAAAAA=\n",
        "origin\n1\nroot\r\n\n— a AAAAAAA=\n",
        "x" * 20000,
    ],
)
def test_malformed_notes_are_bad_input(note: str) -> None:
    with pytest.raises(BadInput):
        split_note(note)


@pytest.mark.parametrize("text", ["o\n01\nAAAA\n", "o\n1\n", "o\nx\nAAAA\n", "o\n1\nAAAA\n"])
def test_malformed_checkpoints_are_bad_input(text: str) -> None:
    with pytest.raises(BadInput):
        parse_checkpoint(text)
