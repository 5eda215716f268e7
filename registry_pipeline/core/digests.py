"""Content identity: a sorted manifest of (path, size, sha256) and its digest.

The manifest is compatible in spirit with OpenSSF model-signing manifests: every file of a
version is listed by its relative POSIX path, size and sha256; the version's digest is the
sha256 of the canonical JSON of that sorted list. File order on disk never matters.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry_pipeline.core.errors import BadInput

HEX64 = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_FORMAT = "registry-pipeline/manifest/v1"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class FileDigest:
    """One file of a version: relative POSIX path, size in bytes, sha256 hex."""

    path: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        if not HEX64.fullmatch(self.sha256):
            raise BadInput(f"file {self.path!r}: sha256 must be 64 lowercase hex characters")
        if self.size < 0:
            raise BadInput(f"file {self.path!r}: size cannot be negative")
        check_relative_path(self.path)


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """The sorted file list of a version and its digest."""

    files: tuple[FileDigest, ...]
    digest: str

    @property
    def size(self) -> int:
        """Total bytes over every file."""
        return sum(f.size for f in self.files)

    @property
    def file_count(self) -> int:
        """Number of files."""
        return len(self.files)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored."""
        return {
            "format": MANIFEST_FORMAT,
            "digest": self.digest,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }


def check_relative_path(path: str) -> str:
    """Return ``path`` if it is a clean relative POSIX path inside its folder."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BadInput(f"path {path!r} is not a clean relative path inside the source")
    if "\\" in path or "\x00" in path:
        raise BadInput(f"path {path!r} contains a backslash or NUL")
    return path


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def build_manifest(files: Iterable[FileDigest]) -> Manifest:
    """Sort ``files`` by path and compute the digest of the manifest.

    Raises:
        BadInput: two files share a path, or there are no files.
    """
    ordered = tuple(sorted(files, key=lambda f: f.path))
    if not ordered:
        raise BadInput("nothing to register: the source has no files")
    for a, b in itertools.pairwise(ordered):
        if a.path == b.path:
            raise BadInput(f"file {a.path!r} is listed twice")
    body = [[f.path, f.size, f.sha256] for f in ordered]
    digest = hashlib.sha256(canonical_json({"format": MANIFEST_FORMAT, "files": body})).hexdigest()
    return Manifest(files=ordered, digest=digest)


def digest_of_document(document: Mapping[str, Any], *, format_name: str) -> str:
    """Digest of a structured document (a stack's pins, a provider spec): sha256 of its
    canonical JSON tagged with ``format_name``."""
    return hashlib.sha256(canonical_json({"format": format_name, "document": document})).hexdigest()


def first_difference(expected: Iterable[FileDigest], actual: Iterable[FileDigest]) -> str | None:
    """The first file (in path order) where ``actual`` is not ``expected``, described in
    words, or ``None`` when both hold exactly the same files and bytes."""
    want = {f.path: f for f in expected}
    have = {f.path: f for f in actual}
    for path in sorted(want.keys() | have.keys()):
        if path not in have:
            return f"{path} is missing"
        if path not in want:
            return f"{path} is not in the registered version"
        if want[path].size != have[path].size:
            return f"{path} is {have[path].size} bytes, registered {want[path].size}"
        if want[path].sha256 != have[path].sha256:
            got, registered = have[path].sha256[:12], want[path].sha256[:12]
            return f"{path} differs (sha256 {got}, registered {registered})"
    return None
