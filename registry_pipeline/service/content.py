"""Are these the registered bytes? What a deployment system asks before it serves a model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.core.digests import first_difference
from registry_pipeline.core.refs import parse_exact
from registry_pipeline.service.context import Context
from registry_pipeline.sources import read_source
from registry_pipeline.store import versions


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentCheck:
    """The verdict on the bytes at ``path`` against version ``entry@version``."""

    entry: str
    version: int
    digest: str
    path: str
    actual_digest: str
    difference: str | None

    @property
    def ok(self) -> bool:
        """Whether the bytes are exactly the registered version's."""
        return self.difference is None

    def to_dict(self) -> dict[str, Any]:
        """The ``verify-content`` document."""
        return {
            "entry": self.entry,
            "version": self.version,
            "digest": self.digest,
            "path": self.path,
            "actual_digest": self.actual_digest,
            "ok": self.ok,
            "difference": self.difference,
        }


def verify_content(ctx: Context, ref: str, path: str | Path) -> ContentCheck:
    """Hash the folder or file at ``path`` and compare it with version ``ref``.

    Raises:
        NotFound: no such version, or nothing at ``path``.
        SourceError: the path cannot be read or escapes its folder.
    """
    target = parse_exact(ref)
    with ctx.store.read() as conn:
        version = versions.version(conn, target.entry, target.version)
        expected = versions.manifest_files(conn, target.entry, target.version)
    actual = read_source(path)
    if expected:
        difference = first_difference(expected, actual.files)
    else:  # imported by digest only: the digest is all there is to compare
        difference = (
            None
            if actual.digest == version.digest
            else f"content digest {actual.digest[:12]} is not the registered {version.digest[:12]}"
        )
    return ContentCheck(
        entry=target.entry,
        version=target.version,
        digest=version.digest,
        path=str(path),
        actual_digest=actual.digest,
        difference=difference,
    )
