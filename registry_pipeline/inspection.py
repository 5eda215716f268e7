"""What a source is, read where the bytes are: its format facts and its content manifest.

Local registration inspects and records in one process; a client of the registry server
inspects here and sends the :class:`Inspection` (the server never sees the bytes, and
``registry verify-content`` checks them later wherever they are deployed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.digests import FileDigest, Manifest, build_manifest
from registry_pipeline.core.errors import BadInput, Conflict
from registry_pipeline.formats import Detected, detect
from registry_pipeline.hashcache import HashCache
from registry_pipeline.sources import Progress, read_source

MAX_FILES = 20000
"""Files one inspection may list (a manifest is bounded; so is the body that carries it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspection:
    """A source's detected format and its manifest, and where it was read."""

    detected: Detected
    manifest: Manifest
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what a client sends the server)."""
        return {
            "detected": self.detected.to_dict(),
            "manifest": self.manifest.to_dict(),
            "source": self.source,
        }


def inspect_source(
    source: str | Path,
    *,
    exclude: Sequence[str] = (),
    rehash: bool = False,
    progress: Progress | None = None,
) -> Inspection:
    """Detect the format of ``source`` and hash every file into a manifest.

    Raises:
        BadInput: a known file is malformed, or the source has no files.
        SourceError: the source cannot be read or escapes its folder.
    """
    detected = detect(source)
    cache = HashCache(refresh=rehash)
    try:
        manifest = read_source(source, exclude=exclude, cache=cache, progress=progress)
    finally:
        cache.close()
    return Inspection(detected=detected, manifest=manifest, source=str(Path(source).resolve()))


def inspection_from_dict(document: Mapping[str, Any]) -> Inspection:
    """Rebuild an inspection a client sent; the manifest's digest is computed again from
    its files, never taken on trust.

    Raises:
        BadInput: a malformed document, or a digest that does not match its files.
    """
    try:
        raw = document["manifest"]
        files = raw["files"]
        if not isinstance(files, list) or len(files) > MAX_FILES:
            raise BadInput(f"an inspection lists 1 to {MAX_FILES} files")
        manifest = build_manifest(
            FileDigest(path=str(f["path"]), size=int(f["size"]), sha256=str(f["sha256"]))
            for f in files
        )
        if raw.get("digest") != manifest.digest:
            raise BadInput("the manifest's digest is not the digest of its files")
        seen = document["detected"]
        detected = Detected(
            format=str(seen["format"]),
            facts=dict(seen.get("facts") or {}),
            card=dict(seen.get("card") or {}),
            evals=[dict(e) for e in seen.get("evals") or []],
            upstream=[dict(u) for u in seen.get("upstream") or []],
            warnings=[str(w) for w in seen.get("warnings") or []],
        )
        source = str(document.get("source") or "")[:4096]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, BadInput):
            raise
        raise BadInput(f"malformed inspection: {type(e).__name__} {str(e)[:80]}") from None
    return Inspection(detected=detected, manifest=manifest, source=source)


def expect_digest(inspection: Inspection, expected: str | None, *, entry: str) -> None:
    """Refuse a source whose content changed after a sensor saw it (digest ``expected``).

    Raises:
        Conflict: the digest differs.
    """
    if expected is not None and inspection.manifest.digest != expected:
        raise Conflict(
            f"{inspection.source} changed after it was seen (digest "
            f"{inspection.manifest.digest[:12]}, expected {expected[:12]}); drop a new "
            "training output instead of editing one",
            entry=entry,
        )
