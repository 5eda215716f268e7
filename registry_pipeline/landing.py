"""The landing folder where training jobs drop their outputs for the registry to pick up.

Layout: ``<landing>/<entry>/<run-id>/`` holding the output's files and a ``registry.yaml``
manifest::

    entry: support-lora                      # must match the <entry> folder
    params: {learning_rate: 0.0002, code_commit: 3f2c1e9}
    upstream: [llama-3-8b-instruct@1, support-tickets-2026q3@1]
    evals: [{file: evals.json, suite: support-evals@1}]
    complete: true                           # or a _SUCCESS file beside it

An output is ready once ``registry.yaml`` says ``complete: true`` or a ``_SUCCESS`` file
exists; jobs write that last (or write ``.tmp-<run-id>/`` and rename it into place:
folders whose names start with ``.`` are ignored). The manifest, the marker and eval
files are not part of the version's content digest.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from registry_pipeline.core.refs import parse_exact
from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.inputs.documents import read_text, read_yaml, validation_message
from registry_pipeline.inputs.names import Name
from registry_pipeline.settings import landing_root as landing_root

MANIFEST = "registry.yaml"
MARKER = "_SUCCESS"
MAX_MANIFEST_BYTES = 1024 * 1024
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class EvalFile(BaseModel):
    """An eval results file inside the output, and the suite version that produced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    suite: Annotated[str, StringConstraints(min_length=3, max_length=200)]


class LandingManifest(BaseModel):
    """A validated ``registry.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    entry: Name
    params: dict[str, Any] = Field(default_factory=dict)
    upstream: list[str] = Field(default_factory=list)
    evals: list[EvalFile] = Field(default_factory=list)
    complete: bool = False

    def excluded(self) -> list[str]:
        """Paths inside the output that are metadata, not content."""
        return [MANIFEST, MARKER, *(e.file for e in self.evals)]


@dataclass(frozen=True, slots=True, kw_only=True)
class LandingOutput:
    """A completed training output found in the landing folder."""

    path: Path
    entry: str
    run_id: str
    ready_ns: int

    @property
    def key(self) -> str:
        """``<entry>/<run-id>``, the output's name relative to the landing folder."""
        return f"{self.entry}/{self.run_id}"


def scan(root: Path) -> list[LandingOutput]:
    """Every ready output under ``root``, oldest first. Folders that are not outputs are
    ignored; outputs that are not ready yet are not listed."""
    found: list[LandingOutput] = []
    if not root.is_dir():
        return found
    with os.scandir(root) as entries:
        entry_dirs = [
            e for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
        ]
    for entry_dir in entry_dirs:
        with os.scandir(entry_dir.path) as runs:
            run_dirs = [
                r for r in runs if r.is_dir(follow_symlinks=False) and not r.name.startswith(".")
            ]
        for run in run_dirs:
            ready = _ready_ns(Path(run.path))
            if ready is not None:
                found.append(
                    LandingOutput(
                        path=Path(run.path),
                        entry=entry_dir.name,
                        run_id=run.name,
                        ready_ns=ready,
                    )
                )
    found.sort(key=lambda o: (o.ready_ns, o.key))
    return found


def _ready_ns(folder: Path) -> int | None:
    """When the output became ready: the later of its marker's (or manifest's) mtime and
    the folder's ctime, so an output renamed or moved in whole counts when it lands even if
    its files keep older times (``mv``, ``cp -p``, ``rsync -a``). ``None``: not ready."""
    marked = _marker_ns(folder)
    if marked is None:
        return None
    try:
        return max(marked, folder.stat().st_ctime_ns)
    except OSError:
        return marked


def _marker_ns(folder: Path) -> int | None:
    try:
        marker = (folder / MARKER).lstat()
        if stat.S_ISREG(marker.st_mode):
            return marker.st_mtime_ns
    except FileNotFoundError:
        pass
    try:
        manifest = (folder / MANIFEST).lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(manifest.st_mode) or manifest.st_size > MAX_MANIFEST_BYTES:
        return manifest.st_mtime_ns
    try:
        text = read_text(folder / MANIFEST, where=MANIFEST, limit=MAX_MANIFEST_BYTES)
    except (BadInput, NotFound):
        return manifest.st_mtime_ns
    return manifest.st_mtime_ns if re.search(r"(?m)^complete:\s*true\s*$", text) else None


def read_manifest(output: LandingOutput) -> LandingManifest:
    """Read and validate an output's ``registry.yaml``.

    Raises:
        BadInput: the manifest is missing, malformed, names another entry, or points at
            eval files outside the output; the message names the file.
    """
    where = f"{output.key}/{MANIFEST}"
    if not RUN_ID.fullmatch(output.run_id):
        raise BadInput(f"{output.key}: run folder names use letters, digits, '.', '_', '-'")
    path = output.path / MANIFEST
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise BadInput(f"{where}: missing; every output needs a registry.yaml") from None
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{where}: not a regular file")
    try:
        document = read_yaml(path, where=where, limit=MAX_MANIFEST_BYTES)
    except NotFound:
        raise BadInput(f"{where}: missing; every output needs a registry.yaml") from None
    if not isinstance(document, dict):
        raise BadInput(f"{where}: the top level must be a mapping")
    try:
        manifest = LandingManifest.model_validate(document)
    except ValidationError as e:
        raise BadInput(validation_message(e, where)) from None
    if manifest.entry != output.entry:
        raise BadInput(
            f"{where}: entry is {manifest.entry!r} but the output sits under {output.entry!r}/"
        )
    for ref in manifest.upstream:
        parse_exact(ref)
    for item in manifest.evals:
        parse_exact(item.suite)
        if not item.file.isprintable():
            raise BadInput(f"{where}: evals file names are printable text")
        rel = PurePosixPath(item.file)
        if rel.is_absolute() or ".." in rel.parts:
            raise BadInput(f"{where}: evals file {item.file!r} must be inside the output")
        try:
            target = (output.path / rel).resolve()
            usable = target.is_relative_to(output.path.resolve()) and target.is_file()
        except OSError:
            usable = False
        if not usable:
            raise BadInput(f"{where}: evals file {item.file!r} is missing or outside the output")
    return manifest
