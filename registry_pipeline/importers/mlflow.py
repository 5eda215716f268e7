"""Import an MLflow model registry: its versions, then who holds staging and production.

``mlflow`` is an optional extra (``pip install 'registry-pipeline[mlflow]'``), imported only
when an import runs. The importer only reads MLflow.

Names. An MLflow registered model maps to the catalog entry :func:`entry_name` gives:
lowercased; every character outside ``a-z 0-9 . _ -`` becomes ``-``; runs of ``-`` and of
``.`` collapse to one; leading and trailing ``-``, ``.`` and ``_`` are trimmed; cut at 128
characters. The entry must already be in the catalog: the catalog is reviewed code, so the
importer never creates entries (:func:`write_catalog_snippet` drafts them for review).

Versions. Each READY version, oldest first, becomes a version of the entry, recorded as
imported with its origin. Its digest is the content digest of its artifacts when the
version's source (a local path, a ``file:`` URI, or a ``runs:/`` / ``models:/`` URI that
resolves to one) exists on this machine (``digest_basis: artifacts``); otherwise the digest
of a descriptor ``{system, tracking_uri, name, version, source, run_id}`` in the format
``registry-pipeline/mlflow-version/v1`` (``digest_basis: descriptor``).

Stages. Aliases ``champion`` and ``production`` name the production holder, ``challenger``
and ``staging`` the staging holder; other aliases carry no stage. Aliases win over MLflow's
deprecated stages when both exist. Otherwise MLflow's ``Production`` and ``Staging`` stages
name the holders (the highest version number wins when several versions share one, and the
report says so); ``Archived`` versions are archived; ``None`` leaves a version a candidate.
The importer never demotes a holder that MLflow no longer names: it warns instead.

Idempotence. A version already imported from the same MLflow registry, model and version
is skipped without reading MLflow's artifacts again, and a stage already held is not moved
again: a second run records no ledger event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

import yaml

from registry_pipeline.core.digests import digest_of_document
from registry_pipeline.core.kinds import EntryKind, check_name, parse_kind
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput, NotFound, SourceError, Step, StoreUnavailable
from registry_pipeline.sources import read_source
from registry_pipeline.store import versions as stored_versions

if TYPE_CHECKING:
    from registry_pipeline.service import Registry

SYSTEM = "mlflow"
DESCRIPTOR_FORMAT = "registry-pipeline/mlflow-version/v1"
INSTALL_HINT = "mlflow is not installed; pip install 'registry-pipeline[mlflow]'"
PLACEHOLDER_OWNER = "unknown@example.com"
DEFAULT_KIND = EntryKind.CLASSIFIER
KIND_TAG = "registry.kind"
OWNER_TAG = "owner"
PROMPT_TAG = "mlflow.prompt.is_prompt"
MAX_DESCRIPTION = 20_000
MISSING_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})

#: MLflow aliases (compared lowercase) that name the holder of a single-holder stage.
ALIAS_STAGES: dict[str, Stage] = {
    "champion": Stage.PRODUCTION,
    "production": Stage.PRODUCTION,
    "challenger": Stage.STAGING,
    "staging": Stage.STAGING,
}

#: MLflow's (deprecated) model version stages; ``None`` means a candidate.
MLFLOW_STAGES: dict[str, Stage] = {
    "Production": Stage.PRODUCTION,
    "Staging": Stage.STAGING,
    "Archived": Stage.ARCHIVED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedVersion:
    """One MLflow model version and the registry version it is (or already was)."""

    registered_model: str
    mlflow_version: int
    entry: str
    version: int
    digest: str
    digest_basis: str


@dataclass(slots=True, kw_only=True)
class ImportReport:
    """What an import did: ``models`` maps MLflow names to entries; ``imported`` versions
    are new, ``skipped`` ones were already there; ``stages`` are the stage moves made."""

    tracking_uri: str
    registry_uri: str
    models: dict[str, str] = field(default_factory=dict)
    imported: list[ImportedVersion] = field(default_factory=list)
    skipped: list[ImportedVersion] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the import recorded anything."""
        return bool(self.imported or self.stages)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json`` document)."""
        return {
            "tracking_uri": self.tracking_uri,
            "registry_uri": self.registry_uri,
            "models": dict(self.models),
            "imported": [asdict(v) for v in self.imported],
            "skipped": [asdict(v) for v in self.skipped],
            "stages": [dict(s) for s in self.stages],
            "warnings": list(self.warnings),
            "changed": self.changed,
        }

    def summary(self) -> str:
        """A few lines for people (the warnings are in :attr:`warnings`)."""
        lines = [
            f"{len(self.models)} MLflow models: {len(self.imported)} versions imported, "
            f"{len(self.skipped)} already there, {len(self.stages)} stage changes"
        ]
        lines += [
            f"  + {v.entry}@{v.version} <- {v.registered_model} v{v.mlflow_version} "
            f"({v.digest_basis} {v.digest[:12]})"
            for v in self.imported
        ]
        lines += [
            f"  > {s['entry']}@{s['version']} -> {s['stage']} ({s['basis']})" for s in self.stages
        ]
        return "\n".join(lines)


@dataclass(slots=True)
class _Model:
    name: str
    entry: str
    model: Any
    versions: list[Any]


@dataclass(slots=True)
class _Mlflow:
    client: Any
    error: type[Exception]
    tracking_uri: str
    registry_uri: str

    @contextmanager
    def answering(self, what: str) -> Iterator[None]:
        """Turn MLflow's errors into :class:`StoreUnavailable` naming ``what``."""
        try:
            yield
        except self.error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreUnavailable(
                f"MLflow at {self.registry_uri} failed to {what}: {first}"
            ) from e


def entry_name(mlflow_name: str) -> str:
    """The catalog entry name of an MLflow registered model (the rule is in the module doc).

    Raises:
        BadInput: nothing usable is left of the name.
    """
    name = re.sub(r"[^a-z0-9._-]", "-", mlflow_name.lower())
    name = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", name))
    name = name.strip("-._")[:128].rstrip("-._")
    try:
        return check_name(name)
    except BadInput:
        raise BadInput(
            f"MLflow model {mlflow_name!r} maps to no valid entry name",
            step=Step.SELECT_MODELS,
        ) from None


def import_mlflow(
    registry: Registry,
    *,
    tracking_uri: str,
    registry_uri: str | None = None,
    models: Sequence[str] | None = None,
) -> ImportReport:
    """Import the registered models of an MLflow registry (or only ``models``, by MLflow
    name or entry name) into ``registry``: their versions, oldest first, then the
    holders of staging and production. Each version is one transaction; a run that
    stops half-way is completed by running it again.

    Raises:
        BadInput: mlflow is not installed; a model has no catalog entry (all are listed),
            maps to a stack or to no valid name, or two models map to one entry.
        NotFound: the tracking store does not exist, or a model in ``models`` is unknown.
        StoreUnavailable: MLflow answered with an error.
    """
    ml = _connect(tracking_uri, registry_uri)
    found = _discover(ml, models)
    report = ImportReport(tracking_uri=ml.tracking_uri, registry_uri=ml.registry_uri)
    report.warnings += found[1]
    catalog = registry.catalog()
    missing = [m for m in found[0] if m.entry not in catalog.entries]
    if missing:
        listed = ", ".join(f"{m.name!r} -> {m.entry}" for m in missing)
        raise BadInput(
            f"{len(missing)} MLflow model(s) have no catalog entry: {listed}; the catalog is "
            "reviewed code, so the importer never creates entries",
            step=Step.DRAFT_CATALOG,
        )
    stacks = [m for m in found[0] if catalog.entries[m.entry].kind is EntryKind.STACK]
    if stacks:
        raise BadInput(
            f"MLflow model {stacks[0].name!r} maps to {stacks[0].entry}, a stack; stacks are "
            "assembled here, not imported",
            entry=stacks[0].entry,
        )
    for model in found[0]:
        report.models[model.name] = model.entry
        numbers = _import_versions(registry, ml, model, report)
        _import_stages(registry, ml, model, numbers, report)
    return report


def catalog_snippet(
    registry: Registry,
    *,
    tracking_uri: str,
    registry_uri: str | None = None,
    models: Sequence[str] | None = None,
) -> tuple[str, list[str]]:
    """Draft catalog YAML for the MLflow models that have no entry yet; imports nothing.

    Each entry's kind is the MLflow tag ``registry.kind`` (default ``classifier``), its
    owner the tag ``owner``, else the user id of the newest version, else the placeholder
    ``unknown@example.com``; guesses and placeholders carry a comment.

    Returns:
        The YAML text and the entry names it drafts (empty when nothing is missing).
    """
    ml = _connect(tracking_uri, registry_uri)
    found, _ = _discover(ml, models)
    catalog = registry.catalog()
    missing = [m for m in found if m.entry not in catalog.entries]
    lines = [
        "# Catalog entries drafted for MLflow registered models that the catalog lacks,",
        f"# from {_comment(ml.registry_uri)}. Review each one (kind, owner, license,",
        "# risk_class, intended_use), add it to the catalog, load it with",
        "# `registry init --catalog CATALOG`, then run `registry import mlflow` again.",
    ]
    if not missing:
        lines += ["# Every selected MLflow model already has an entry.", "entries: {}"]
        return "\n".join(lines) + "\n", []
    lines.append("entries:")
    for m in missing:
        lines += _snippet_entry(m)
    return "\n".join(lines) + "\n", [m.entry for m in missing]


def write_catalog_snippet(
    registry: Registry,
    path: str | Path,
    *,
    tracking_uri: str,
    registry_uri: str | None = None,
    models: Sequence[str] | None = None,
) -> list[str]:
    """Write :func:`catalog_snippet` to ``path``, a new file (never overwritten).

    Returns:
        The entry names drafted.

    Raises:
        BadInput: ``path`` exists or cannot be written.
    """
    text, names = catalog_snippet(
        registry, tracking_uri=tracking_uri, registry_uri=registry_uri, models=models
    )
    target = Path(path)
    try:
        with target.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise BadInput(
            f"{str(target)!r} already exists; pass a new path (a catalog snippet never "
            "overwrites a file)"
        ) from None
    except OSError as e:
        raise BadInput(f"cannot write {str(target)!r}: {e.strerror}") from e
    return names


# -- MLflow ---------------------------------------------------------------------------------


def _connect(tracking_uri: str, registry_uri: str | None) -> _Mlflow:
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise BadInput(INSTALL_HINT) from None
    for uri in {tracking_uri, registry_uri or tracking_uri}:
        _check_store_exists(uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    return _Mlflow(
        client=client,
        error=MlflowException,
        tracking_uri=_redact(tracking_uri),
        registry_uri=_redact(registry_uri or tracking_uri),
    )


def _check_store_exists(uri: str) -> None:
    # MLflow creates an empty store at a mistyped local URI; refuse rather than import
    # nothing from a brand-new database.
    where: Path | None = None
    if uri.startswith("sqlite:"):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            database = make_url(uri).database
        except ArgumentError:
            raise BadInput(f"{_redact(uri)!r} is not a valid sqlite URI") from None
        if database and database != ":memory:" and not database.startswith("file:"):
            where = Path(database)
    else:
        where = _local_path(uri)
    if where is not None and not where.exists():
        raise NotFound(
            f"no MLflow store at {str(where)!r} (from {_redact(uri)!r}); check the URI",
            hint="a sqlite URI is sqlite:///relative/mlflow.db or sqlite:////absolute/mlflow.db",
        )


def _pages(call: Callable[..., Any], **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = call(page_token=token, **kwargs)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def _discover(ml: _Mlflow, wanted: Sequence[str] | None) -> tuple[list[_Model], list[str]]:
    warnings: list[str] = []
    with ml.answering("list registered models"):
        registered = _pages(ml.client.search_registered_models, max_results=100)
    chosen = []
    for model in sorted(registered, key=lambda m: m.name):
        if (model.tags or {}).get(PROMPT_TAG) == "true":
            if wanted and model.name in wanted:
                raise BadInput(f"{model.name!r} is an MLflow prompt, not a model")
            continue
        chosen.append(model)
    if wanted:
        unknown = []
        picked = []
        for name in dict.fromkeys(wanted):
            match = [m for m in chosen if m.name == name] or [
                m for m in chosen if _maps_to(m.name, name)
            ]
            if not match:
                unknown.append(name)
            picked += [m for m in match if m not in picked]
        if unknown:
            raise NotFound(
                f"no MLflow registered model {', '.join(map(repr, unknown))} at {ml.registry_uri}",
                hint="name models as MLflow does, or by their entry name",
            )
        chosen = sorted(picked, key=lambda m: m.name)
    elif not chosen:
        warnings.append(f"MLflow at {ml.registry_uri} has no registered models")
    by_entry: dict[str, str] = {}
    found = []
    for model in chosen:
        entry = entry_name(model.name)
        if entry in by_entry:
            raise BadInput(
                f"MLflow models {by_entry[entry]!r} and {model.name!r} both map to entry {entry}",
                step=Step.SELECT_MODELS,
            )
        by_entry[entry] = model.name
        found.append(_Model(model.name, entry, model, _versions(ml, model.name)))
    return found, warnings


def _maps_to(mlflow_name: str, entry: str) -> bool:
    try:
        return entry_name(mlflow_name) == entry
    except BadInput:
        return False


def _versions(ml: _Mlflow, name: str) -> list[Any]:
    # MLflow's filter grammar has no escapes that work across versions: quote with the
    # mark the name lacks, else fetch every version and filter here.
    if "\\" in name or ("'" in name and '"' in name):
        query = None
    elif "'" in name:
        query = f'name="{name}"'
    else:
        query = f"name='{name}'"
    with ml.answering(f"list the versions of {name!r}"):
        versions = _pages(ml.client.search_model_versions, filter_string=query)
    return sorted((v for v in versions if v.name == name), key=lambda v: int(v.version))


def _aliases(ml: _Mlflow, model: _Model) -> dict[str, int]:
    # search_model_versions leaves ModelVersion.aliases empty on some stores; the
    # registered model's alias map is the one every store fills.
    out = {str(a).lower(): int(v) for a, v in dict(model.model.aliases or {}).items()}
    if not out:
        with ml.answering(f"read {model.name!r}"):
            full = ml.client.get_registered_model(model.name)
        out = {str(a).lower(): int(v) for a, v in dict(full.aliases or {}).items()}
    for v in model.versions:
        for alias in getattr(v, "aliases", None) or []:
            out.setdefault(str(alias).lower(), int(v.version))
    return out


def _run(ml: _Mlflow, run_id: str | None) -> Any | None:
    if not run_id:
        return None
    with ml.answering(f"read run {run_id}"):
        try:
            return ml.client.get_run(run_id)
        except ml.error as e:
            # Only a run that is gone is imported without its params: a version is never
            # imported twice, so a transient error must not strip them for good.
            if getattr(e, "error_code", None) in MISSING_CODES:
                return None
            raise


def _local_path(uri: str) -> Path | None:
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return None
        return Path(url2pathname(unquote(parts.path)))
    if parts.scheme == "" and Path(uri).is_absolute():
        return Path(uri)
    return None


def _artifacts(ml: _Mlflow, version: Any, run: Any | None) -> Path | None:
    source = str(version.source or "")
    path = _local_path(source)
    if path is None and source.startswith("runs:/"):
        run_id, _, rel = source[len("runs:/") :].partition("/")
        owner = run if run is not None and run.info.run_id == run_id else _run(ml, run_id)
        if owner is not None and owner.info.artifact_uri:
            base = str(owner.info.artifact_uri).rstrip("/")
            path = _local_path(f"{base}/{rel}" if rel else base)
    elif path is None and source.startswith("models:/"):
        # MLflow 3 logged models (models:/m-ID); models:/NAME/VERSION names a registry
        # version, not artifacts.
        ref = source[len("models:/") :].strip("/")
        get = getattr(ml.client, "get_logged_model", None)
        if get is not None and ref.startswith("m-") and "/" not in ref:
            try:
                logged = get(ref)
            except ml.error:
                logged = None
            if logged is not None and logged.artifact_location:
                path = _local_path(str(logged.artifact_location))
    return path if path is not None and path.exists() else None


# -- versions -------------------------------------------------------------------------------


def _import_versions(
    registry: Registry, ml: _Mlflow, model: _Model, report: ImportReport
) -> dict[int, int]:
    known = _already_imported(registry, ml, model)
    numbers: dict[int, int] = {}
    for v in model.versions:
        number = int(v.version)
        label = f"{model.name!r} v{number}"
        status = getattr(v, "status", None)
        if status not in (None, "", "READY"):
            report.warnings.append(f"{label} is {status} in MLflow; not imported")
            continue
        if number in known:
            numbers[number] = known[number].version
            report.skipped.append(known[number])
            continue
        run = _run(ml, v.run_id)
        if v.run_id and run is None:
            report.warnings.append(
                f"{label}: run {v.run_id} is not in the tracking store at {ml.tracking_uri}; "
                "imported without its params"
            )
        origin: dict[str, Any] = {
            "system": SYSTEM,
            "tracking_uri": ml.tracking_uri,
            "registry_uri": ml.registry_uri,
            "registered_model": model.name,
            "version": number,
            "run_id": v.run_id or None,
            "source": v.source,
            "creation_timestamp": _iso(v.creation_timestamp),
        }
        if getattr(v, "model_id", None):
            origin["model_id"] = v.model_id
        path = _artifacts(ml, v, run)
        manifest = None
        if path is not None:
            try:
                manifest = read_source(path)
            except SourceError as e:
                report.warnings.append(f"{label}: artifacts not hashed ({e}); using descriptor")
        if manifest is not None and path is not None:
            digest, basis = manifest.digest, "artifacts"
            document, source = manifest.to_dict(), str(path.resolve())
            size, files = manifest.size, manifest.file_count
            origin["artifacts"] = source
        else:
            descriptor = {
                "system": SYSTEM,
                "tracking_uri": ml.tracking_uri,
                "name": model.name,
                "version": number,
                "source": v.source,
                "run_id": v.run_id or None,
            }
            digest = digest_of_document(descriptor, format_name=DESCRIPTOR_FORMAT)
            basis, source, size, files = "descriptor", str(v.source or ""), 0, 0
            document = {"format": DESCRIPTOR_FORMAT, "digest": digest, "document": descriptor}
        origin["digest_basis"] = basis
        seen = ImportedVersion(
            registered_model=model.name,
            mlflow_version=number,
            entry=model.entry,
            version=0,
            digest=digest,
            digest_basis=basis,
        )
        with registry.store.read() as conn:
            same = stored_versions.by_digest(conn, model.entry, digest)
        if same is not None:
            # Identical content is one version here: map to it rather than fail on the
            # differing MLflow metadata.
            numbers[number] = same.number
            report.skipped.append(_with_version(seen, same.number))
            report.warnings.append(
                f"{label} has the same content as {model.entry}@{same.number}, which "
                f"{_described(same.origin)}; mapped to it"
            )
            continue
        params: dict[str, Any] = {
            "tags": dict(v.tags or {}),
            "description": v.description or "",
            "run_id": v.run_id or None,
        }
        if run is not None:
            params["run_params"] = dict(run.data.params or {})
        result = registry.import_version(
            model.entry,
            digest=digest,
            manifest=document,
            source=source,
            params=params,
            origin=origin,
            size=size,
            file_count=files,
        )
        numbers[number] = result.version
        (report.imported if result.created else report.skipped).append(
            _with_version(seen, result.version)
        )
    return numbers


def _already_imported(registry: Registry, ml: _Mlflow, model: _Model) -> dict[int, ImportedVersion]:
    with registry.store.read() as conn:
        rows = stored_versions.origins(conn, model.entry)
    out: dict[int, ImportedVersion] = {}
    for number, digest, origin in rows:
        if (
            isinstance(origin, dict)
            and origin.get("system") == SYSTEM
            and origin.get("registry_uri", origin.get("tracking_uri")) == ml.registry_uri
            and origin.get("registered_model") == model.name
            and isinstance(origin.get("version"), int)
        ):
            out[origin["version"]] = ImportedVersion(
                registered_model=model.name,
                mlflow_version=origin["version"],
                entry=model.entry,
                version=number,
                digest=digest,
                digest_basis=str(origin.get("digest_basis", "")),
            )
    return out


def _with_version(seen: ImportedVersion, number: int) -> ImportedVersion:
    return ImportedVersion(**{**asdict(seen), "version": number})


def _described(origin: Mapping[str, Any] | None) -> str:
    if not isinstance(origin, Mapping):
        return "was registered here"
    return (
        f"was imported from {origin.get('system')} {origin.get('registered_model')!r} "
        f"v{origin.get('version')}"
    )


# -- stages ---------------------------------------------------------------------------------


def _import_stages(
    registry: Registry, ml: _Mlflow, model: _Model, numbers: dict[int, int], report: ImportReport
) -> None:
    aliases = _aliases(ml, model)
    stage_of = {int(v.version): MLFLOW_STAGES.get(str(v.current_stage)) for v in model.versions}
    for alias, version in sorted(aliases.items()):
        if alias in ALIAS_STAGES and version not in numbers:
            report.warnings.append(
                f"alias {alias!r} of {model.name!r} names v{version}, which was not imported"
            )
    picks: dict[Stage, tuple[int, str]] = {}
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        named = sorted(
            (v, a) for a, v in aliases.items() if ALIAS_STAGES.get(a) is stage and v in numbers
        )
        staged = sorted(v for v, s in stage_of.items() if s is stage and v in numbers)
        if named:
            version, alias = named[-1]
            if len({v for v, _ in named}) > 1:
                report.warnings.append(
                    f"{model.name!r}: aliases {', '.join(f'{a}=v{v}' for v, a in named)} "
                    f"disagree on {stage}; the latest, v{version}, holds it"
                )
            others = [v for v in staged if v != version]
            if others:
                report.warnings.append(
                    f"{model.name!r}: MLflow stage {stage.title()} on "
                    f"{', '.join(f'v{v}' for v in others)} is ignored: alias {alias!r} names "
                    f"v{version} (aliases win over deprecated stages)"
                )
            picks[stage] = (version, f"alias:{alias}")
        elif staged:
            version = staged[-1]
            if len(staged) > 1:
                report.warnings.append(
                    f"{model.name!r}: MLflow has {', '.join(f'v{v}' for v in staged)} in "
                    f"{stage.title()}; the latest, v{version}, holds {stage}, the others "
                    "are left as they are"
                )
            picks[stage] = (version, f"stage:{stage.title()}")
    if (
        Stage.PRODUCTION in picks
        and Stage.STAGING in picks
        and numbers[picks[Stage.PRODUCTION][0]] == numbers[picks[Stage.STAGING][0]]
    ):
        report.warnings.append(
            f"{model.name!r}: v{picks[Stage.STAGING][0]} is named for both staging and "
            "production; it holds production"
        )
        del picks[Stage.STAGING]
    held = {numbers[v] for v, _ in picks.values()}
    plan: list[tuple[Stage, int, str]] = []
    archived: set[int] = set()
    for version, mlflow_stage in sorted(stage_of.items()):
        if mlflow_stage is not Stage.ARCHIVED or version not in numbers:
            continue
        if numbers[version] not in held and numbers[version] not in archived:
            archived.add(numbers[version])
            plan.append((Stage.ARCHIVED, version, "stage:Archived"))
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        if stage in picks:
            plan.append((stage, *picks[stage]))
    for stage, version, basis in plan:
        origin = {
            "system": SYSTEM,
            "tracking_uri": ml.tracking_uri,
            "registry_uri": ml.registry_uri,
            "registered_model": model.name,
            "version": version,
            "basis": basis,
        }
        change = registry.import_stage(model.entry, numbers[version], stage=stage, origin=origin)
        if change is not None:
            report.stages.append(
                {
                    "entry": model.entry,
                    "version": change.version,
                    "stage": change.stage,
                    "previous": change.previous,
                    "ledger_seq": change.ledger_seq,
                    "registered_model": model.name,
                    "mlflow_version": version,
                    "basis": basis,
                }
            )
    listed = next(e.to_dict() for e in registry.list_entries() if e.entry == model.entry)
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        if stage not in picks and listed[stage.value] is not None:
            report.warnings.append(
                f"{model.entry}@{listed[stage.value]} holds {stage} here but MLflow names no "
                f"{stage} version of {model.name!r}; left as it is"
            )


# -- catalog snippet ------------------------------------------------------------------------


def _snippet_entry(m: _Model) -> list[str]:
    tags = dict(m.model.tags or {})
    notes: dict[str, str] = {}
    raw_kind = str(tags.get(KIND_TAG, "")).strip()
    kind = DEFAULT_KIND
    if raw_kind:
        try:
            kind = parse_kind(raw_kind)
        except BadInput:
            kind = EntryKind.STACK
        if kind is EntryKind.STACK:
            kind = DEFAULT_KIND
            notes["kind"] = f"MLflow tag {KIND_TAG}={_comment(raw_kind)} is no importable kind"
    else:
        notes["kind"] = f"default; set the MLflow tag {KIND_TAG} or edit"
    owner = str(tags.get(OWNER_TAG, "")).strip()
    if not owner or len(owner) > 256:
        users = [str(v.user_id).strip() for v in reversed(m.versions) if v.user_id]
        users = [u for u in users if 0 < len(u) <= 256]
        if users:
            owner = users[0]
            notes["owner"] = "the MLflow user id of the newest version; check it"
        else:
            owner = PLACEHOLDER_OWNER
            notes["owner"] = "PLACEHOLDER: MLflow names no owner; set the accountable owner"
    description = str(m.model.description or "")
    if len(description) > MAX_DESCRIPTION:
        description = description[:MAX_DESCRIPTION]
        notes["description"] = "cut to 20000 characters"
    body: dict[str, Any] = {
        "kind": kind.value,
        "owner": owner,
        "description": description,
        "tags": {"mlflow.registered_model": m.name},
    }
    lines = [f"  {_yaml_key(m.entry)}:  # MLflow registered model {_comment(m.name)}"]
    for key, value in body.items():
        dumped = yaml.safe_dump(
            {key: value}, allow_unicode=True, sort_keys=False, width=1_000_000
        ).rstrip("\n")
        chunk = [f"    {line}" for line in dumped.split("\n")]
        if key in notes:
            chunk[0] += f"  # {notes[key]}"
        lines += chunk
    return lines


def _yaml_key(name: str) -> str:
    # A name such as 1.0 or true must stay a string key.
    return yaml.safe_dump({name: 0}, width=1_000_000).rstrip("\n")[: -len(": 0")]


def _comment(text: str) -> str:
    # ASCII-only JSON quoting keeps any name on the comment's one line.
    return json.dumps(text)


# -- small helpers --------------------------------------------------------------------------


def _iso(millis: Any) -> str | None:
    if millis in (None, ""):
        return None
    instant = datetime.fromtimestamp(int(millis) / 1000, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _redact(uri: str) -> str:
    # URIs are recorded in the ledger forever; a password in one must not be.
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(
        parts._replace(netloc=f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}")
    )
