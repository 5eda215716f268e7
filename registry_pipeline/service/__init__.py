"""The :class:`Registry` facade: every use case of the registry, for Python users, the CLI
and the Dagster layer alike.

Each mutating method runs in one write transaction that also appends its ledger event.
Promotions re-evaluate the gates inside the transaction that applies them.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from registry_pipeline.catalog import (
    ROLE_KEYS,
    catalog_digest,
    catalog_from_document,
    granting_keys,
    load_catalog,
)
from registry_pipeline.core.cards import render_markdown
from registry_pipeline.core.catalog import DEFAULT_PERMISSIONS, Catalog, Operation, Role
from registry_pipeline.core.digests import HEX64, digest_of_document
from registry_pipeline.core.gates import Gate, GateFacts, GateResult, blocking, evaluate_gates
from registry_pipeline.core.kinds import EntryKind, check_name, parse_kind
from registry_pipeline.core.ledger import LedgerEvent, verify_chain
from registry_pipeline.core.promotion import (
    Decision,
    PromotionRequest,
    RequestStatus,
    approval_payload,
)
from registry_pipeline.core.provider import (
    DEPRECATION_NOTICE_DAYS,
    ProviderPin,
    deprecation_problem,
    registration_warnings,
)
from registry_pipeline.core.refs import ExactRef, VersionRef, parse_exact, parse_ref
from registry_pipeline.core.stages import (
    DISPLACED_TO,
    SINGLE_HOLDER_STAGES,
    Stage,
    parse_stage,
    transition_problem,
)
from registry_pipeline.core.times import format_time, parse_instant, parse_stored
from registry_pipeline.deployments import (
    deployments_root,
    manifest_document,
    target_path,
    workloads_of,
    write_atomically,
)
from registry_pipeline.documents import parse_yaml
from registry_pipeline.errors import (
    BadInput,
    Conflict,
    GateRefused,
    NotFound,
    Refused,
)
from registry_pipeline.hashcache import HashCache
from registry_pipeline.inputs.card_files import card_from_mapping, read_card_file
from registry_pipeline.inputs.eval_results import parse_eval_results, read_eval_results
from registry_pipeline.inputs.text_files import read_input_text
from registry_pipeline.sources import Progress, read_source
from registry_pipeline.store import Store, Tx, dumps, loads, records, schema
from registry_pipeline.store.engine import DEFAULT_URL

if TYPE_CHECKING:
    from registry_pipeline.formats import Detected

MAX_REASON = 2000
STACK_FORMAT = "registry-pipeline/stack/v1"

#: Parsed catalogs by digest: a catalog is immutable once stored, so parsing it once per
#: process is enough (each transaction still reads which catalog is current).
_CATALOGS: dict[str, Catalog] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """The outcome of a registration; ``created`` is false when the content existed."""

    entry: str
    version: int
    digest: str
    size: int
    file_count: int
    created: bool
    format: str = "files"
    upstream: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateReport:
    """Every gate's verdict on a request."""

    request: int
    entry: str
    version: int
    target: str
    passed: bool
    gates: list[GateResult]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``gates`` document)."""
        return {
            "request": self.request,
            "entry": self.entry,
            "version": self.version,
            "target": self.target,
            "passed": self.passed,
            "gates": [asdict(g) for g in self.gates],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StageChange:
    """A stage moved: what holds it now and what it displaced."""

    entry: str
    stage: str
    version: int
    previous: int | None
    ledger_seq: int
    request: int | None = None
    approved_by: list[str] = field(default_factory=list)
    left: str | None = None


def default_actor() -> str:
    """The OS user, the identity when neither ``--actor`` nor ``REGISTRY_ACTOR`` is set."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def check_actor(actor: str) -> str:
    """Validate an actor name (printable, 1-256 characters)."""
    if not actor or len(actor) > 256 or not actor.isprintable() or actor != actor.strip():
        raise BadInput(
            f"invalid actor {actor[:60]!r}: use a printable name such as alice@example.com"
        )
    return actor


def check_reason(reason: str) -> str:
    """A reason is required, printable on one line, at most 2000 characters."""
    if not reason or not reason.strip():
        raise BadInput("a reason is required; say why with --reason TEXT")
    if len(reason) > MAX_REASON:
        raise BadInput(f"the reason is over {MAX_REASON} characters; shorten it")
    if any(ord(c) < 32 and c not in "\t" for c in reason):
        raise BadInput("the reason must be one line of text without control characters")
    return reason.strip()


def read_document(path: str | Path, *, what: str) -> Any:
    """Read a YAML or JSON document the user passed as a file (at most 4 MiB).

    Raises:
        BadInput: unreadable, too large, not UTF-8 text, or malformed.
        NotFound: the file does not exist.
    """
    text = read_input_text(path, what=what)
    return parse_yaml(text, where=f"{what} {str(Path(path))!r}")


class Registry:
    """The registry's use cases over one store and the catalog loaded into it."""

    def __init__(
        self,
        store: Store,
        *,
        actor: str | None = None,
        deployments: str | Path | None = None,
    ) -> None:
        self.store = store
        self.actor = check_actor(actor or default_actor())
        self.deployments = deployments_root(deployments)

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        actor: str | None = None,
        deployments: str | Path | None = None,
    ) -> Registry:
        """Open an initialised registry at ``url``; raises :class:`NotFound` if there is none.

        ``deployments`` is the folder of deployment manifests (default
        ``REGISTRY_DEPLOYMENTS`` or ``.registry/deployments``).
        """
        return cls(Store.open(url), actor=actor, deployments=deployments)

    @classmethod
    def init(
        cls, url: str = DEFAULT_URL, *, catalog: str | Path | None = None, actor: str | None = None
    ) -> tuple[Registry, dict[str, Any]]:
        """Create (or upgrade) the registry at ``url`` and load ``catalog`` into it.

        Returns:
            The registry and a summary: ``{database, migrations, catalog, entries, changed}``.

        Raises:
            CatalogError: the catalog is malformed (nothing is written).
            Refused: a catalog is loaded whose policy names admins, and the actor is not one.
            Conflict: the new catalog drops or re-kinds an entry that has versions.
        """
        loaded = load_catalog(catalog) if catalog is not None else None
        store = Store.open(url, create=True)
        registry = cls(store, actor=actor)
        summary: dict[str, Any] = {"database": url, "catalog": None, "changed": False}
        if loaded is not None:
            summary.update(registry.load_catalog(loaded[0], loaded[1], source=str(catalog)))
        summary["entries"] = len(registry.catalog().entries)
        return registry, summary

    def load_catalog(
        self, catalog: Catalog, document: Mapping[str, Any], *, source: str
    ) -> dict[str, Any]:
        """Record a new catalog (entries, workloads, policy) in the store, if it changed."""
        digest = catalog_digest(document)
        with self.store.write(self.actor) as tx:
            current = records.latest_catalog(tx.conn)
            if current is not None:
                if current["digest"] == digest:
                    return {"catalog": digest, "changed": False}
                loaded = catalog_from_document(loads(current["document"]))
                if not loaded.may_change_catalog(self.actor):
                    allowed = loaded.policy.permissions.get(
                        Operation.CATALOG, DEFAULT_PERMISSIONS[Operation.CATALOG]
                    )
                    raise Refused(
                        f"{self.actor} may not change the catalog: that needs "
                        f"{' or '.join(sorted(allowed))} (policy.permissions.catalog); admins: "
                        f"{', '.join(sorted(loaded.policy.admins)) or 'none'}"
                    )
            existing = {r["name"]: r for r in tx.conn.execute(select(schema.entries)).mappings()}
            with_versions = set(
                tx.conn.execute(select(schema.versions.c.entry).distinct()).scalars()
            )
            for name in sorted(with_versions):
                if name not in catalog.entries:
                    raise Conflict(
                        f"the catalog drops {name!r}, which has registered versions; keep it",
                        entry=name,
                    )
                if existing[name]["kind"] != catalog.entries[name].kind:
                    raise Conflict(
                        f"the catalog changes {name!r} from {existing[name]['kind']} to "
                        f"{catalog.entries[name].kind}, but it has versions; add a new entry",
                        entry=name,
                    )
            for name, entry in catalog.entries.items():
                if name in existing:
                    tx.conn.execute(
                        schema.entries.update()
                        .where(schema.entries.c.name == name)
                        .values(kind=entry.kind, owner=entry.owner)
                    )
                else:
                    tx.conn.execute(
                        schema.entries.insert().values(
                            name=name,
                            kind=entry.kind,
                            owner=entry.owner,
                            next_version=1,
                            created_at=tx.now_text,
                        )
                    )
            for name in set(existing) - set(catalog.entries) - with_versions:
                tx.conn.execute(schema.entries.delete().where(schema.entries.c.name == name))
            tx.conn.execute(
                schema.catalogs.insert().values(
                    digest=digest,
                    document=dumps(document),
                    source=source,
                    loaded_at=tx.now_text,
                    loaded_by=self.actor,
                )
            )
            tx.append(
                "catalog.load",
                f"catalog:{digest[:12]}",
                {
                    "digest": digest,
                    "source": source,
                    "entries": sorted(catalog.entries),
                    "workloads": sorted(catalog.workloads),
                },
            )
        return {"catalog": digest, "changed": True}

    def catalog(self) -> Catalog:
        """The catalog currently loaded in the store."""
        with self.store.read() as conn:
            return self._catalog(conn)

    def _require(self, catalog: Catalog, operation: Operation, entry: str) -> None:
        """Refuse unless the actor holds a role that ``policy.permissions`` allows."""
        if catalog.permits(self.actor, operation, entry):
            return
        allowed = catalog.policy.permissions.get(operation, DEFAULT_PERMISSIONS[operation])
        held = catalog.roles(self.actor, entry)
        keys = granting_keys(catalog, operation, entry)
        owner_key = ROLE_KEYS[Role.OWNER].format(entry=entry)
        lists = [k for k in keys if k != owner_key]
        grants = []
        if lists:
            either = f"{', '.join(lists[:-1])} or {lists[-1]}" if len(lists) > 1 else lists[0]
            grants.append(f"add {self.actor} to {either}")
        if owner_key in keys:
            grants.append(
                f"make {self.actor} the owner ({owner_key}, now {catalog.entry(entry).owner})"
            )
        raise Refused(
            f"{self.actor} may not {operation} for {entry}: that needs "
            f"{' or '.join(sorted(allowed))} (policy.permissions.{operation}); "
            f"{self.actor} is {', '.join(sorted(held)) or 'not named in the policy or catalog'}"
            + (f"; to grant it, {', or '.join(grants)}" if grants else ""),
            entry=entry,
        )

    def _catalog(self, conn: Connection) -> Catalog:
        t = schema.catalogs
        latest = conn.execute(select(t.c.id, t.c.digest).order_by(t.c.id.desc()).limit(1)).first()
        if latest is None:
            return Catalog(entries={})
        cached = _CATALOGS.get(latest.digest)
        if cached is None:
            document = conn.execute(select(t.c.document).where(t.c.id == latest.id)).scalar_one()
            cached = catalog_from_document(loads(document))
            _CATALOGS.clear()
            _CATALOGS[latest.digest] = cached
        return cached

    def catalog_in(self, conn: Connection) -> Catalog:
        """The catalog as loaded in the store, read on ``conn`` (inside its transaction)."""
        return self._catalog(conn)

    # -- registering ---------------------------------------------------------------------

    def register(
        self,
        entry: str,
        source: str | Path,
        *,
        params: Mapping[str, Any] | None = None,
        upstream: Sequence[str] = (),
        exclude: Sequence[str] = (),
        expected_digest: str | None = None,
        rehash: bool = False,
        progress: Progress | None = None,
    ) -> Registered:
        """Register the content at ``source`` as a version of ``entry``.

        Args:
            entry: a catalog entry (not a stack; stacks use :meth:`register_stack`).
            source: a folder or a file; every file is hashed into the version's manifest.
            params: training configuration (hyperparameters, code commit...).
            upstream: exact upstream versions (``ENTRY@VERSION``), one for each upstream
                entry the catalog declares.
            exclude: relative paths under ``source`` that are not part of the content
                (a landing folder's manifest and completion marker).
            expected_digest: refuse (Conflict) if the content no longer has this digest.
            rehash: read every file again instead of trusting the stat cache.
            progress: called with (bytes done, bytes total) while hashing.

        Returns:
            The version; when identical content is already registered, that version.

        Raises:
            NotFound: unknown entry or upstream version.
            SourceError: the source cannot be read or escapes its folder.
            BadInput: upstream pins do not match the catalog.
            Conflict: the same content is registered with different lineage or params.
        """
        check_name(entry)
        catalog = self.catalog()
        spec = catalog.entry(entry)
        if spec.kind is EntryKind.STACK:
            raise BadInput(
                f"{entry} is a stack; register it with --pin ENTRY@VERSION for each component",
                entry=entry,
            )
        from registry_pipeline.formats import detect

        pins = [parse_exact(p) for p in upstream]
        detected = detect(source)
        pins, notes = self._resolve_hints(catalog, spec.name, spec.upstream, pins, detected)
        _check_pins(entry, "upstream", spec.upstream, pins)
        cache = HashCache(refresh=rehash)
        try:
            manifest = read_source(source, exclude=exclude, cache=cache, progress=progress)
        finally:
            cache.close()
        if expected_digest is not None and manifest.digest != expected_digest:
            raise Conflict(
                f"{source} changed after it was seen (digest {manifest.digest[:12]}, expected "
                f"{expected_digest[:12]}); drop a new training output instead of editing one",
                entry=entry,
            )
        digest, document = manifest.digest, manifest.to_dict()
        if detected.format == "provider-model":
            # A hosted model has no weights: its identity is the pinned spec, so the same
            # provider, model id and snapshot is the same version whatever the file says.
            digest = str(detected.facts["digest"])
            document = {
                "format": "registry-pipeline/provider-model/v1",
                "digest": digest,
                "spec": detected.facts,
                "files": document["files"],
            }
        facts = {
            **detected.to_dict(),
            "resolved_upstream": notes["resolved"],
            "unresolved_upstream": notes["unresolved"],
        }
        result = self._record_version(
            entry,
            digest,
            manifest=document,
            size=manifest.size,
            file_count=manifest.file_count,
            source=_describe_source(source),
            params=dict(params or {}),
            pins=pins,
            relation="upstream",
            format_facts=facts,
        )
        warnings = [*detected.warnings, *notes["warnings"]]
        pin = ProviderPin.from_format(facts)
        if pin is not None:
            warnings += registration_warnings(pin, datetime.now(UTC).date())
        if result.created:
            warnings += self._ingest_reported_evals(catalog, result, detected.evals)
        return Registered(
            entry=result.entry,
            version=result.version,
            digest=result.digest,
            size=result.size,
            file_count=result.file_count,
            created=result.created,
            format=detected.format,
            upstream=sorted(f"{p.entry}@{p.version}" for p in pins),
            warnings=warnings,
        )

    def _resolve_hints(
        self,
        catalog: Catalog,
        entry: str,
        declared: Sequence[str],
        pins: list[ExactRef],
        detected: Detected,
    ) -> tuple[list[ExactRef], dict[str, list[Any]]]:
        """Turn upstream hints found in the artifact (an adapter's base model, an index's
        embedding model) into pins for declared upstream entries the caller did not pin."""
        notes: dict[str, list[Any]] = {"resolved": [], "unresolved": [], "warnings": []}
        pinned = {p.entry for p in pins}
        for hint in detected.upstream:
            name = str(hint.get("name", ""))
            target, _, number = name.partition("@")
            candidates = [
                d
                for d in declared
                if d == target.lower()
                or d == target.rsplit("/", 1)[-1].lower()
                or catalog.entries[d].tags.get("hf_repo") == target
            ]
            if not candidates:
                notes["unresolved"].append(hint)
                notes["warnings"].append(
                    f"{hint.get('from')}: {name!r} matches no upstream entry of {entry}; "
                    "lineage recorded only from explicit pins"
                )
                continue
            chosen = candidates[0]
            if chosen in pinned:
                continue
            version = int(number) if number.isdigit() else None
            if version is None:
                version = self.latest_versions([chosen])[chosen]
            if version is None:
                notes["unresolved"].append(hint)
                notes["warnings"].append(
                    f"{hint.get('from')}: {chosen} has no version yet; register it first"
                )
                continue
            pins.append(ExactRef(entry=chosen, version=version))
            pinned.add(chosen)
            notes["resolved"].append({**hint, "pinned": f"{chosen}@{version}"})
        return pins, notes

    def _ingest_reported_evals(
        self, catalog: Catalog, result: Registered, evals: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Eval results shipped inside the artifact (model-index, lm-eval) become evidence
        when a catalog eval suite that evaluates this entry has the dataset's or the task's
        name."""
        warnings = []
        suites = sorted(catalog.suites_covering(result.entry))
        for item in evals:
            dataset = str(item.get("dataset") or item.get("task") or "")
            task = str(item.get("task") or "")
            names = {dataset, dataset.lower(), task, task.lower()} - {""}
            suite = next((s for s in suites if s in names), None)
            version = self.latest_versions([suite])[suite] if suite else None
            if suite is None or version is None:
                warnings.append(
                    f"eval results for {dataset!r} ({item.get('source')}) recorded as reported "
                    "only: no registered eval suite of that name evaluates "
                    f"{result.entry}"
                )
                continue
            self.ingest_evals(
                f"{result.entry}@{result.version}",
                {
                    "metrics": item["metrics"],
                    "produced_at": item.get("produced_at"),
                    "details": {"source": item.get("source"), "task": item.get("task")},
                },
                suite=f"{suite}@{version}",
            )
        return warnings

    def register_stack(self, stack: str, pins: Sequence[str]) -> Registered:
        """Register a stack version pinning exact versions of each of its components.

        Raises:
            BadInput: ``stack`` is not a stack, or a component is missing or foreign.
            NotFound: a pinned version does not exist.
        """
        check_name(stack)
        spec = self.catalog().entry(stack)
        if spec.kind is not EntryKind.STACK:
            raise BadInput(f"{stack} is a {spec.kind}, not a stack; --pin is for stacks")
        refs = [parse_exact(p) for p in pins]
        _check_pins(stack, "components", spec.components, refs)
        with self.store.read() as conn:
            components = []
            for ref in sorted(refs, key=lambda r: r.entry):
                row = records.version_row(conn, ref.entry, ref.version)
                components.append(
                    {"entry": ref.entry, "version": ref.version, "digest": row["digest"]}
                )
        document = {"stack": stack, "components": components}
        digest = digest_of_document(document, format_name=STACK_FORMAT)
        return self._record_version(
            stack,
            digest,
            manifest={"format": STACK_FORMAT, "digest": digest, "document": document},
            size=0,
            file_count=0,
            source="pins",
            params={},
            pins=refs,
            relation="pins",
        )

    def import_version(
        self,
        entry: str,
        *,
        digest: str,
        manifest: Mapping[str, Any],
        source: str,
        params: Mapping[str, Any],
        origin: Mapping[str, Any],
        size: int = 0,
        file_count: int = 0,
    ) -> Registered:
        """Record a version brought from another registry (e.g. MLflow), marked imported with
        its ``origin`` in the version and its ledger event. Importing the same content
        again returns the existing version."""
        check_name(entry)
        spec = self.catalog().entry(entry)
        if spec.kind is EntryKind.STACK:
            raise BadInput(f"{entry} is a stack; stacks are assembled here, not imported")
        if not HEX64.fullmatch(digest):
            raise BadInput(f"digest for {entry} must be 64 lowercase hex characters")
        return self._record_version(
            entry,
            digest,
            manifest=manifest,
            size=size,
            file_count=file_count,
            source=source,
            params=params,
            pins=[],
            relation="upstream",
            origin=origin,
        )

    def import_stage(
        self, entry: str, version: int, *, stage: str, origin: Mapping[str, Any]
    ) -> StageChange | None:
        """Put an imported version in ``stage`` as its origin registry had it, recorded as an
        import (no approvals were given here). ``None`` when it already holds the stage."""
        target = parse_stage(stage)
        with self.store.write(self.actor) as tx:
            self._require(self._catalog(tx.conn), Operation.IMPORT, entry)
            records.version_row(tx.conn, entry, version)
            current = records.open_assignment(tx.conn, entry, version)
            if current is not None and current["stage"] == target:
                return None
            event = tx.append(
                "stage.import",
                f"{entry}@{version}",
                {
                    "entry": entry,
                    "version": version,
                    "stage": target,
                    "imported": True,
                    "origin": dict(origin),
                },
            )
            change = self._move(
                tx,
                entry=entry,
                number=version,
                stage=target,
                reason=f"imported: {origin.get('system', 'external')} had it in {target}",
                cause="import",
                request_id=None,
                approved_by=[],
                ledger_seq=event.seq,
            )
        if target is Stage.PRODUCTION:
            self.write_deployments(entry)
        return change

    def _record_version(
        self,
        entry: str,
        digest: str,
        *,
        manifest: Mapping[str, Any],
        size: int,
        file_count: int,
        source: str,
        params: Mapping[str, Any],
        pins: Sequence[ExactRef],
        relation: str,
        format_facts: Mapping[str, Any] | None = None,
        origin: Mapping[str, Any] | None = None,
    ) -> Registered:
        try:
            params_json = dumps(params)
        except (TypeError, ValueError) as e:
            raise BadInput(f"training config for {entry} is not JSON-serialisable: {e}") from e
        lineage = sorted((p.entry, p.version) for p in pins)
        with self.store.write(self.actor) as tx:
            self._require(
                self._catalog(tx.conn),
                Operation.IMPORT if origin is not None else Operation.REGISTER,
                entry,
            )
            existing = records.version_by_digest(tx.conn, entry, digest)
            if existing is not None:
                known = sorted(
                    (u["entry"], u["version"])
                    for u in records.upstream_of(tx.conn, entry, existing["number"])
                )
                if known != lineage or (
                    params and loads(existing["params"]) != json.loads(params_json)
                ):
                    raise Conflict(
                        f"{entry}@{existing['number']} already has this content with different "
                        "lineage or training config; content identity is immutable",
                        entry=entry,
                        version=existing["number"],
                    )
                return Registered(
                    entry=entry,
                    version=existing["number"],
                    digest=digest,
                    size=existing["size"],
                    file_count=existing["file_count"],
                    created=False,
                )
            upstream_rows = []
            for up_entry, up_number in lineage:
                row = records.version_row(tx.conn, up_entry, up_number)
                upstream_rows.append(
                    {"entry": up_entry, "version": up_number, "digest": row["digest"]}
                )
            number = records.allocate_number(tx.conn, entry)
            tx.conn.execute(
                schema.versions.insert().values(
                    entry=entry,
                    number=number,
                    digest=digest,
                    size=size,
                    file_count=file_count,
                    manifest=dumps(manifest),
                    source=source,
                    params=params_json,
                    created_at=tx.now_text,
                    created_by=self.actor,
                    format=dumps(format_facts or {}),
                    origin=dumps(origin) if origin is not None else None,
                )
            )
            for up_entry, up_number in lineage:
                tx.conn.execute(
                    schema.lineage.insert().values(
                        entry=entry,
                        number=number,
                        upstream_entry=up_entry,
                        upstream_number=up_number,
                        relation=relation,
                    )
                )
            payload: dict[str, Any] = {
                "entry": entry,
                "version": number,
                "digest": digest,
                "size": size,
                "files": file_count,
                "source": source,
                "params": json.loads(params_json),
                relation: upstream_rows,
            }
            if format_facts:
                payload["format"] = format_facts.get("format")
            if origin is not None:
                payload.update(imported=True, origin=origin)
            event = tx.append(
                "version.import" if origin is not None else "version.register",
                f"{entry}@{number}",
                payload,
            )
            records.add_assignment(
                tx.conn,
                entry=entry,
                number=number,
                stage=Stage.CANDIDATE,
                at=tx.now_text,
                actor=self.actor,
                reason="imported" if origin is not None else "registered",
                cause="import" if origin is not None else "register",
                request_id=None,
                approved_by=[],
                ledger_seq=event.seq,
            )
        return Registered(
            entry=entry,
            version=number,
            digest=digest,
            size=size,
            file_count=file_count,
            created=True,
        )

    # -- reading -------------------------------------------------------------------------

    def _resolve_ref(self, conn: Connection, ref: VersionRef) -> records.Row:
        self._catalog(conn).entry(ref.entry)
        if ref.version is not None:
            return records.version_row(conn, ref.entry, ref.version)
        if ref.stage is not None:
            if ref.stage not in SINGLE_HOLDER_STAGES:
                raise BadInput(
                    f"{ref}: only staging and production have one holder; name a version"
                )
            held = records.holder(conn, ref.entry, ref.stage)
            if held is None:
                raise NotFound(f"no version of {ref.entry} is in {ref.stage}", entry=ref.entry)
            return records.version_row(conn, ref.entry, held["number"])
        t = schema.versions
        latest = conn.execute(
            select(func.max(t.c.number)).where(t.c.entry == ref.entry)
        ).scalar_one()
        if latest is None:
            raise NotFound(
                f"{ref.entry} has no versions yet",
                entry=ref.entry,
                hint=f"register one with `registry register {ref.entry} SOURCE`",
            )
        return records.version_row(conn, ref.entry, latest)

    def show(self, ref: str) -> dict[str, Any]:
        """A version with its stage, lineage, evals and card (``ENTRY[@VERSION|@STAGE]``)."""
        parsed = parse_ref(ref)
        with self.store.read() as conn:
            row = self._resolve_ref(conn, parsed)
            catalog = self._catalog(conn)
            spec = catalog.entry(row["entry"])
            stage = records.open_assignment(conn, row["entry"], row["number"])
            upstream = records.upstream_of(conn, row["entry"], row["number"])
            evals = records.eval_results(conn, row["entry"], row["number"])
            card = records.latest_card(conn, row["entry"], row["number"])
            ab_tests = records.ab_results(conn, row["entry"], row["number"])
        return {
            "entry": row["entry"],
            "kind": spec.kind.value,
            "owner": spec.owner,
            "version": row["number"],
            "digest": row["digest"],
            "stage": stage["stage"] if stage else None,
            "size": row["size"],
            "file_count": row["file_count"],
            "source": row["source"],
            "params": loads(row["params"]),
            "format": loads(row["format"]),
            "origin": loads(row["origin"]) if row["origin"] else None,
            "created_at": row["created_at"],
            "created_by": row["created_by"],
            "lineage": [dict(u) for u in upstream],
            "evals": [_eval_dict(e) for e in evals],
            "ab_tests": ab_tests,
            "card": dict(card.fields) if card else None,
        }

    def list_entries(self, *, kind: str | None = None) -> list[dict[str, Any]]:
        """Every catalog entry with its version count, latest version and stage holders."""
        wanted = parse_kind(kind) if kind else None
        with self.store.read() as conn:
            catalog = self._catalog(conn)
            v = schema.versions
            counts = {
                r["entry"]: (r["n"], r["latest"])
                for r in conn.execute(
                    select(
                        v.c.entry, func.count().label("n"), func.max(v.c.number).label("latest")
                    ).group_by(v.c.entry)
                ).mappings()
            }
            s = schema.stage_assignments
            holders: dict[tuple[str, str], int] = {
                (r["entry"], r["stage"]): r["number"]
                for r in conn.execute(
                    select(s.c.entry, s.c.stage, s.c.number).where(
                        s.c.effective_to.is_(None), s.c.stage.in_(["staging", "production"])
                    )
                ).mappings()
            }
        out = []
        for name, spec in sorted(catalog.entries.items()):
            if wanted is not None and spec.kind is not wanted:
                continue
            n, latest = counts.get(name, (0, None))
            out.append(
                {
                    "entry": name,
                    "kind": spec.kind.value,
                    "owner": spec.owner,
                    "versions": n,
                    "latest": latest,
                    "staging": holders.get((name, "staging")),
                    "production": holders.get((name, "production")),
                }
            )
        return out

    def lineage(self, ref: str) -> dict[str, Any]:
        """The full upstream tree of a version and its direct downstream versions."""
        exact = parse_exact(ref)
        with self.store.read() as conn:
            row = self._resolve_ref(conn, VersionRef(entry=exact.entry, version=exact.version))

            def tree(entry: str, number: int, depth: int) -> list[dict[str, Any]]:
                if depth > 64:
                    return []
                return [
                    {**dict(u), "upstream": tree(u["entry"], u["version"], depth + 1)}
                    for u in records.upstream_of(conn, entry, number)
                ]

            upstream = tree(row["entry"], row["number"], 0)
            downstream = [dict(d) for d in records.downstream_of(conn, row["entry"], row["number"])]
        return {
            "entry": row["entry"],
            "version": row["number"],
            "digest": row["digest"],
            "upstream": upstream,
            "downstream": downstream,
        }

    # -- evidence ------------------------------------------------------------------------

    def ingest_evals(
        self, ref: str, results: str | Path | Mapping[str, Any], *, suite: str
    ) -> dict[str, Any]:
        """Record eval results of ``suite`` (``SUITE@VERSION``) for version ``ref``.

        ``results`` is a YAML/JSON file or mapping: ``{metrics: {...}, produced_at:
        ISO-8601, details: {...}}``, an lm-evaluation-harness results file (every task's
        metrics, named as ``register`` names them: ``<task>/<metric>,<filter>``), or a
        flat mapping of metric to number; see :mod:`registry_pipeline.inputs.eval_results`.

        Raises:
            BadInput: malformed results, a suite that is not an eval suite, or a
                ``produced_at`` in the future.
            NotFound: the version or suite version does not exist.
        """
        target = parse_exact(ref)
        suite_ref = parse_exact(suite)
        parsed = (
            read_eval_results(results)
            if isinstance(results, str | Path)
            else parse_eval_results(results)
        )
        metrics, produced, details = dict(parsed.metrics), parsed.produced_at, parsed.details
        with self.store.write(self.actor) as tx:
            catalog = self._catalog(tx.conn)
            self._require(catalog, Operation.EVIDENCE, target.entry)
            suite_spec = catalog.entry(suite_ref.entry)
            if suite_spec.kind is not EntryKind.EVAL_SUITE:
                raise BadInput(f"--suite {suite}: {suite_ref.entry} is a {suite_spec.kind}")
            records.version_row(tx.conn, target.entry, target.version)
            records.version_row(tx.conn, suite_ref.entry, suite_ref.version)
            produced_at = produced or tx.now
            if produced_at > tx.now:
                raise BadInput(f"produced_at {format_time(produced_at)} is in the future")
            try:
                details_json = dumps(details)
            except (TypeError, ValueError) as e:
                raise BadInput(f"eval results: details are not JSON-serialisable: {e}") from e
            result = tx.conn.execute(
                schema.evals.insert().values(
                    entry=target.entry,
                    number=target.version,
                    suite=suite_ref.entry,
                    suite_number=suite_ref.version,
                    metrics=dumps(metrics),
                    details=details_json,
                    produced_at=format_time(produced_at),
                    recorded_at=tx.now_text,
                    recorded_by=self.actor,
                )
            )
            eval_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
            tx.append(
                "eval.ingest",
                str(target),
                {
                    "id": eval_id,
                    "entry": target.entry,
                    "version": target.version,
                    "suite": suite_ref.entry,
                    "suite_version": suite_ref.version,
                    "metrics": metrics,
                    "produced_at": format_time(produced_at),
                },
            )
        return {
            "id": eval_id,
            "entry": target.entry,
            "version": target.version,
            "suite": suite_ref.entry,
            "suite_version": suite_ref.version,
            "metrics": metrics,
            "produced_at": format_time(produced_at),
        }

    def ingest_ab(self, results: str | Path | Mapping[str, Any]) -> dict[str, Any]:
        """Record an online A/B test result (the documented JSON format of
        :mod:`registry_pipeline.formats.ab_tests`) as evidence on both versions it compared.

        Raises:
            BadInput: the document is malformed.
            NotFound: the entry or either version does not exist.
            Conflict: this experiment's result for this metric is already recorded.
        """
        from registry_pipeline.formats.ab_tests import parse_ab_result, read_ab_result

        result = (
            read_ab_result(Path(results))
            if isinstance(results, str | Path)
            else parse_ab_result(results, "A/B result")
        )
        document = result.to_document()
        with self.store.write(self.actor) as tx:
            self._require(self._catalog(tx.conn), Operation.EVIDENCE, result.entry)
            for number in (result.control_version, result.treatment_version):
                records.version_row(tx.conn, result.entry, number)
            t = schema.ab_results
            duplicate = tx.conn.execute(
                select(t.c.id).where(
                    t.c.experiment == result.experiment,
                    t.c.entry == result.entry,
                    t.c.metric == result.metric,
                )
            ).scalar()
            if duplicate is not None:
                raise Conflict(
                    f"experiment {result.experiment!r} already has a {result.metric} result "
                    f"for {result.entry}; evidence is appended, never replaced"
                )
            tx.conn.execute(
                t.insert().values(
                    experiment=result.experiment,
                    entry=result.entry,
                    control_number=result.control_version,
                    treatment_number=result.treatment_version,
                    metric=result.metric,
                    document=dumps(document),
                    decision=result.decision,
                    ended_at=format_time(result.ended_at),
                    recorded_at=tx.now_text,
                    recorded_by=self.actor,
                )
            )
            tx.append("ab.ingest", f"{result.entry}@{result.treatment_version}", document)
        return document

    def set_card(self, ref: str, fields: Mapping[str, Any] | str | Path) -> dict[str, Any]:
        """Set the model card of version ``ref`` from a mapping of fields, a YAML/JSON file
        of them, or a Hugging Face ``README.md`` (front matter and Markdown sections; see
        :mod:`registry_pipeline.inputs.card_files`), whose Markdown is kept with the card.
        """
        target = parse_exact(ref)
        document = (
            read_card_file(fields) if isinstance(fields, str | Path) else card_from_mapping(fields)
        )
        with self.store.write(self.actor) as tx:
            self._require(self._catalog(tx.conn), Operation.EVIDENCE, target.entry)
            records.version_row(tx.conn, target.entry, target.version)
            stored = {k: list(v) if isinstance(v, tuple) else v for k, v in document.fields.items()}
            front = dict(document.front_matter)
            tx.conn.execute(
                schema.cards.insert().values(
                    entry=target.entry,
                    number=target.version,
                    fields=dumps(stored),
                    set_at=tx.now_text,
                    set_by=self.actor,
                    body=document.body or None,
                    front_matter=dumps(front) if front else None,
                )
            )
            payload: dict[str, Any] = {
                "entry": target.entry,
                "version": target.version,
                "fields": stored,
            }
            if document.body:
                payload["body_sha256"] = hashlib.sha256(document.body.encode()).hexdigest()
            if front:
                payload["front_matter"] = front
            tx.append("card.set", str(target), payload)
        result: dict[str, Any] = {"entry": target.entry, "version": target.version, "card": stored}
        if document.sections:
            result["sections"] = {k: list(v) for k, v in document.sections.items()}
        return result

    def card(self, ref: str) -> dict[str, Any]:
        """A version's card fields and the card rendered as Markdown."""
        parsed = parse_ref(ref)
        with self.store.read() as conn:
            row = self._resolve_ref(conn, parsed)
            spec = self._catalog(conn).entry(row["entry"])
            card = records.latest_card(conn, row["entry"], row["number"])
            upstream = records.upstream_of(conn, row["entry"], row["number"])
            evals = records.eval_results(conn, row["entry"], row["number"])
        markdown = render_markdown(
            entry=row["entry"],
            version=row["number"],
            kind=spec.kind.value,
            digest=row["digest"],
            facts={
                "owner": spec.owner,
                "license": spec.license or "",
                "risk_class": spec.risk_class or "",
                "description": spec.description,
                "intended_use": spec.intended_use or "",
            },
            card=card,
            lineage=[f"{u['entry']}@{u['version']} ({u['relation']})" for u in upstream],
            evals=[
                f"{e.suite}@{e.suite_version}: "
                + ", ".join(f"{k}={v:g}" for k, v in sorted(e.metrics.items()))
                for e in evals
            ],
        )
        return {
            "entry": row["entry"],
            "version": row["number"],
            "card": dict(card.fields) if card else None,
            "front_matter": dict(card.front_matter) if card and card.front_matter else None,
            "set_by": card.set_by if card else None,
            "set_at": format_time(card.set_at) if card else None,
            "markdown": markdown,
        }

    # -- promotion -----------------------------------------------------------------------

    def request_promotion(self, ref: str, *, to: str, reason: str) -> PromotionRequest:
        """Open a request to move version ``ref`` to stage ``to``.

        Raises:
            Refused: the stage transition is not allowed from the version's stage.
            Conflict: a pending request for the same version and stage exists.
        """
        target = parse_exact(ref)
        stage = parse_stage(to)
        why = check_reason(reason)
        with self.store.write(self.actor) as tx:
            self._require(self._catalog(tx.conn), Operation.REQUEST, target.entry)
            row = records.version_row(tx.conn, target.entry, target.version)
            current = records.open_assignment(tx.conn, target.entry, target.version)
            assert current is not None
            problem = transition_problem(Stage(current["stage"]), stage)
            if problem:
                raise Refused(
                    f"cannot request {target} -> {stage}: {problem}",
                    entry=target.entry,
                    version=target.version,
                    stage=stage,
                )
            t = schema.requests
            duplicate = tx.conn.execute(
                select(t.c.id).where(
                    t.c.entry == target.entry,
                    t.c.number == target.version,
                    t.c.target == stage,
                    t.c.status == RequestStatus.PENDING,
                )
            ).scalar()
            if duplicate is not None:
                raise Conflict(
                    f"request {duplicate} already asks for {target} -> {stage}; "
                    f"see `registry gates {duplicate}`",
                    entry=target.entry,
                )
            result = tx.conn.execute(
                t.insert().values(
                    entry=target.entry,
                    number=target.version,
                    digest=row["digest"],
                    target=stage,
                    requester=self.actor,
                    reason=why,
                    status=RequestStatus.PENDING,
                    created_at=tx.now_text,
                )
            )
            request_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            tx.append(
                "promotion.request",
                f"request:{request_id}",
                {
                    "request": request_id,
                    "entry": target.entry,
                    "version": target.version,
                    "digest": row["digest"],
                    "target": stage,
                    "reason": why,
                },
            )
            return records.request(tx.conn, request_id)

    def approve(
        self, request_id: int, *, reason: str, key: str | Path | None = None
    ) -> dict[str, Any]:
        """Approve request ``request_id``, optionally signing with an Ed25519 key file."""
        return self._decide(request_id, Decision.APPROVE, reason=reason, key=key)

    def reject(self, request_id: int, *, reason: str) -> dict[str, Any]:
        """Reject request ``request_id``; a rejected request can never be applied."""
        return self._decide(request_id, Decision.REJECT, reason=reason, key=None)

    def _decide(
        self, request_id: int, decision: Decision, *, reason: str, key: str | Path | None
    ) -> dict[str, Any]:
        from registry_pipeline import signatures

        why = check_reason(reason)
        private = signatures.load_private(Path(key)) if key is not None else None
        with self.store.write(self.actor) as tx:
            catalog = self._catalog(tx.conn)
            req = records.request(tx.conn, request_id, lock=True)
            if req.status is not RequestStatus.PENDING:
                raise Conflict(f"request {request_id} is already {req.status}")
            self._require(catalog, Operation.APPROVE, req.entry)
            if decision is Decision.APPROVE and self.actor == req.requester:
                raise Refused(
                    f"{self.actor} requested {req.entry}@{req.version} -> {req.target} and "
                    "cannot approve it; another approver must"
                )
            version = records.version_row(tx.conn, req.entry, req.version)
            if (
                decision is Decision.APPROVE
                and catalog.policy.separate_registrant
                and self.actor == version["created_by"]
            ):
                raise Refused(
                    f"{self.actor} registered {req.entry}@{req.version} and cannot approve it "
                    "(policy.separate_registrant); another approver must"
                )
            if version["digest"] != req.digest:
                raise Conflict(f"request {request_id}'s version content changed; open a new one")
            if any(a["approver"] == self.actor for a in records.approval_rows(tx.conn, request_id)):
                raise Conflict(f"{self.actor} has already decided on request {request_id}")
            payload = approval_payload(
                request_id=request_id,
                entry=req.entry,
                version=req.version,
                digest=req.digest,
                target=req.target,
                approver=self.actor,
                decision=decision,
                reason=why,
                created_at=tx.now_text,
            )
            signature = signatures.sign(private, payload) if private is not None else None
            tx.conn.execute(
                schema.approvals.insert().values(
                    request_id=request_id,
                    approver=self.actor,
                    decision=decision,
                    reason=why,
                    digest=req.digest,
                    signature=signature,
                    created_at=tx.now_text,
                )
            )
            if decision is Decision.REJECT:
                records.set_request_status(tx.conn, request_id, RequestStatus.REJECTED, tx.now_text)
            tx.append(
                f"promotion.{decision}",
                f"request:{request_id}",
                {**payload, "signature": signature},
            )
        return {
            "request": request_id,
            "decision": decision.value,
            "approver": self.actor,
            "signed": signature is not None,
        }

    def _facts(
        self, conn: Connection, catalog: Catalog, req: PromotionRequest, now: datetime
    ) -> GateFacts:
        version = records.version_row(conn, req.entry, req.version)
        current = records.open_assignment(conn, req.entry, req.version)
        assert current is not None
        approvals = [
            records.to_approval(row, self._signature_valid(catalog, req, row))
            for row in records.approval_rows(conn, req.id)
        ]
        components: dict[str, str | None] = {}
        if catalog.entry(req.entry).kind is EntryKind.STACK:
            for up in records.upstream_of(conn, req.entry, req.version):
                components[up["entry"]] = catalog.entry(up["entry"]).license
        return GateFacts(
            registrant=version["created_by"],
            request=req,
            current_stage=Stage(current["stage"]),
            version_digest=version["digest"],
            approvals=approvals,
            evals=records.eval_results(conn, req.entry, req.version),
            card=records.latest_card(conn, req.entry, req.version),
            component_licenses=components,
            now=now,
            ab_results=records.ab_results(conn, req.entry, req.version),
            provider_pins=_provider_pins(conn, catalog, req.entry, req.version),
        )

    @staticmethod
    def _signature_valid(catalog: Catalog, req: PromotionRequest, row: records.Row) -> bool | None:
        if row["signature"] is None:
            return None
        from registry_pipeline import signatures

        public = catalog.policy.approver_keys.get(row["approver"])
        if public is None:
            return False
        payload = approval_payload(
            request_id=req.id,
            entry=req.entry,
            version=req.version,
            digest=row["digest"],
            target=req.target,
            approver=row["approver"],
            decision=row["decision"],
            reason=row["reason"],
            created_at=row["created_at"],
        )
        return signatures.verify(public, payload, row["signature"])

    def gates(self, request_id: int) -> GateReport:
        """Evaluate every gate of request ``request_id`` now, without changing anything."""
        with self.store.read() as conn:
            catalog = self._catalog(conn)
            req = records.request(conn, request_id)
            results = evaluate_gates(catalog, self._facts(conn, catalog, req, datetime.now(UTC)))
        return GateReport(
            request=req.id,
            entry=req.entry,
            version=req.version,
            target=req.target.value,
            passed=not blocking(results),
            gates=results,
        )

    def readiness(self, ref: str, *, target: str = "production") -> list[GateResult]:
        """The evidence gates (evals, card, license, and for provider models the pinned
        snapshot) of version ``ref`` for ``target``, as a promotion to ``target`` would see
        them now. The Dagster asset checks use this."""
        parsed = parse_ref(ref)
        stage = parse_stage(target)
        with self.store.read() as conn:
            row = self._resolve_ref(conn, parsed)
            catalog = self._catalog(conn)
            hypothetical = PromotionRequest(
                id=0,
                entry=row["entry"],
                version=row["number"],
                digest=row["digest"],
                target=stage,
                requester="",
                reason="readiness check",
                status=RequestStatus.PENDING,
                created_at=datetime.now(UTC),
            )
            facts = self._facts(conn, catalog, hypothetical, datetime.now(UTC))
        evidence = {Gate.EVALS, Gate.CARD, Gate.LICENSE, Gate.PROVIDER}
        return [g for g in evaluate_gates(catalog, facts) if g.name in evidence]

    def latest_versions(self, entries: Sequence[str]) -> dict[str, int | None]:
        """The newest version number of each of ``entries`` (``None`` when it has none)."""
        t = schema.versions
        with self.store.read() as conn:
            found = dict(
                conn.execute(
                    select(t.c.entry, func.max(t.c.number))
                    .where(t.c.entry.in_(list(entries)))
                    .group_by(t.c.entry)
                ).all()
            )
        return {name: found.get(name) for name in entries}

    def ledger_head(self) -> dict[str, Any]:
        """The ledger head: ``{seq, hash, recorded_at}``."""
        with self.store.read() as conn:
            head = records.ledger_head(conn)
        return {"seq": head["seq"], "hash": head["hash"], "recorded_at": head["recorded_at"]}

    def request_status(self, request_id: int) -> str:
        """``pending``, ``applied`` or ``rejected``; raises :class:`NotFound`."""
        with self.store.read() as conn:
            return records.request(conn, request_id).status.value

    def pending_requests(self) -> list[PromotionRequest]:
        """Every request still pending, oldest first."""
        t = schema.requests
        with self.store.read() as conn:
            rows = conn.execute(
                select(t).where(t.c.status == RequestStatus.PENDING).order_by(t.c.id)
            ).mappings()
            return [records.to_request(r) for r in rows]

    def apply(self, request_id: int) -> StageChange:
        """Apply request ``request_id`` if every gate passes, re-checked in this transaction.

        Raises:
            GateRefused: a gate failed; the refusal is recorded in the ledger.
        """
        with self.store.write(self.actor) as tx:
            catalog = self._catalog(tx.conn)
            req = records.request(tx.conn, request_id, lock=True)
            self._require(catalog, Operation.APPLY, req.entry)
            results = evaluate_gates(catalog, self._facts(tx.conn, catalog, req, tx.now))
            failed = blocking(results)
            if not failed:
                approvers = [
                    r["approver"]
                    for r in records.approval_rows(tx.conn, request_id)
                    if r["decision"] == Decision.APPROVE
                ]
                held = (
                    records.holder(tx.conn, req.entry, req.target)
                    if req.target in SINGLE_HOLDER_STAGES
                    else None
                )
                event = tx.append(
                    "promotion.apply",
                    f"{req.entry}@{req.version}",
                    {
                        "displaces": held["number"] if held is not None else None,
                        "request": req.id,
                        "entry": req.entry,
                        "version": req.version,
                        "digest": req.digest,
                        "target": req.target,
                        "approved_by": approvers,
                        "gates": [asdict(g) for g in results],
                    },
                )
                change = self._move(
                    tx,
                    entry=req.entry,
                    number=req.version,
                    stage=req.target,
                    reason=req.reason,
                    cause="promotion",
                    request_id=req.id,
                    approved_by=approvers,
                    ledger_seq=event.seq,
                )
                records.set_request_status(tx.conn, req.id, RequestStatus.APPLIED, tx.now_text)
                _store_gates(tx, req.id, results, event.seq)
        if not failed:
            if change.stage == Stage.PRODUCTION or change.left == Stage.PRODUCTION:
                self.write_deployments(change.entry)
            return change
        if req.status is RequestStatus.PENDING:
            with self.store.write(self.actor) as tx:
                event = tx.append(
                    "promotion.refused",
                    f"{req.entry}@{req.version}",
                    {"request": req.id, "failed": [asdict(g) for g in failed]},
                )
                _store_gates(tx, req.id, results, event.seq)
        raise GateRefused(
            f"request {request_id} refused: " + "; ".join(f"{g.name}: {g.detail}" for g in failed),
            gates=results,
            entry=req.entry,
            version=req.version,
            stage=req.target,
        )

    def _move(
        self,
        tx: Tx,
        *,
        entry: str,
        number: int,
        stage: Stage,
        reason: str,
        cause: str,
        request_id: int | None,
        approved_by: Sequence[str],
        ledger_seq: int,
    ) -> StageChange:
        previous: int | None = None
        if stage in SINGLE_HOLDER_STAGES:
            held = records.holder(tx.conn, entry, stage)
            if held is not None and held["number"] != number:
                previous = held["number"]
                records.reassign(
                    tx.conn,
                    held["id"],
                    entry=entry,
                    number=held["number"],
                    stage=DISPLACED_TO[stage],
                    at=tx.now_text,
                    actor=self.actor,
                    reason=f"displaced from {stage} by {entry}@{number}",
                    cause="displaced",
                    request_id=request_id,
                    approved_by=[],
                    ledger_seq=ledger_seq,
                )
        current = records.open_assignment(tx.conn, entry, number)
        assert current is not None
        records.reassign(
            tx.conn,
            current["id"],
            entry=entry,
            number=number,
            stage=stage,
            at=tx.now_text,
            actor=self.actor,
            reason=reason,
            cause=cause,
            request_id=request_id,
            approved_by=approved_by,
            ledger_seq=ledger_seq,
        )
        return StageChange(
            entry=entry,
            stage=stage.value,
            version=number,
            previous=previous,
            ledger_seq=ledger_seq,
            request=request_id,
            approved_by=list(approved_by),
            left=current["stage"],
        )

    def rollback(self, entry: str, *, stage: str, reason: str) -> StageChange:
        """Return ``stage`` of ``entry`` to the version that held it before the current one.

        The restored version keeps the approvals it was promoted with; the rollback is
        recorded with its actor and reason. Only approvers, admins and the entry's owner
        may roll back.

        Raises:
            NotFound: nothing holds the stage, or nothing held it before.
            Refused: the actor may not roll back.
        """
        check_name(entry)
        target = parse_stage(stage)
        why = check_reason(reason)
        if target not in SINGLE_HOLDER_STAGES:
            raise BadInput(f"rollback works on staging or production, not {target}")
        with self.store.write(self.actor) as tx:
            catalog = self._catalog(tx.conn)
            catalog.entry(entry)
            self._require(catalog, Operation.ROLLBACK, entry)
            held = records.holder(tx.conn, entry, target)
            if held is None:
                raise NotFound(f"no version of {entry} is in {target}; nothing to roll back")
            t = schema.stage_assignments
            before = (
                tx.conn.execute(
                    select(t)
                    .where(
                        t.c.entry == entry,
                        t.c.stage == target,
                        t.c.effective_to.is_not(None),
                        t.c.number != held["number"],
                    )
                    .order_by(t.c.effective_to.desc(), t.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if before is None:
                raise NotFound(
                    f"no earlier version of {entry} held {target}; nothing to roll back to",
                    entry=entry,
                    stage=target,
                )
            restored = before["number"]
            now_in = records.open_assignment(tx.conn, entry, restored)
            if now_in is not None and now_in["stage"] in SINGLE_HOLDER_STAGES:
                raise Conflict(
                    f"{entry}@{restored}, which held {target} before, is now in "
                    f"{now_in['stage']}; rolling {target} back would take it out of "
                    f"{now_in['stage']}. Promote another version to {target} instead",
                    entry=entry,
                    stage=target,
                )
            approvers = loads(before["approved_by"])
            event = tx.append(
                "stage.rollback",
                f"{entry}@{restored}",
                {
                    "entry": entry,
                    "stage": target,
                    "from_version": held["number"],
                    "to_version": restored,
                    "reason": why,
                    "approved_by": approvers,
                },
            )
            records.reassign(
                tx.conn,
                held["id"],
                entry=entry,
                number=held["number"],
                stage=DISPLACED_TO[target],
                at=tx.now_text,
                actor=self.actor,
                reason=f"rolled back: {why}",
                cause="rollback",
                request_id=None,
                approved_by=[],
                ledger_seq=event.seq,
            )
            current = records.open_assignment(tx.conn, entry, restored)
            assert current is not None
            records.reassign(
                tx.conn,
                current["id"],
                entry=entry,
                number=restored,
                stage=target,
                at=tx.now_text,
                actor=self.actor,
                reason=f"rollback: {why}",
                cause="rollback",
                request_id=before["request_id"],
                approved_by=approvers,
                ledger_seq=event.seq,
            )
        if target is Stage.PRODUCTION:
            self.write_deployments(entry)
        return StageChange(
            entry=entry,
            stage=target.value,
            version=restored,
            previous=held["number"],
            ledger_seq=event.seq,
            request=before["request_id"],
            approved_by=approvers,
        )

    def write_deployments(self, stack: str | None = None) -> list[str]:
        """Rewrite the deployment manifest of every target of every workload served by
        ``stack`` (all workloads when ``None``) from the store; returns the paths written."""
        catalog = self.catalog()
        names = workloads_of(catalog, stack) if stack is not None else sorted(catalog.workloads)
        written = []
        for name in names:
            workload = catalog.workload(name)
            try:
                resolved: dict[str, Any] | None = self.resolve(name)
            except NotFound:
                resolved = None
            for target in workload.targets:
                path = target_path(self.deployments, target.manifest)
                document = (
                    manifest_document(resolved, target.name)
                    if resolved is not None
                    else {
                        "format": "registry-pipeline/deployment/v1",
                        "workload": name,
                        "target": target.name,
                        "stack": None,
                        "components": [],
                    }
                )
                write_atomically(path, document)
                written.append(str(path))
        return written

    # -- answers -------------------------------------------------------------------------

    def resolve(self, workload: str, *, at: str | datetime | None = None) -> dict[str, Any]:
        """The stack serving ``workload`` in production, now or at instant ``at``.

        Returns:
            ``{workload, stack: {entry, version, digest}, components: [...], approved_by,
            as_of, since}``.

        Raises:
            NotFound: unknown workload, or no production stack at that instant.
        """
        check_name(workload, what="workload name")
        instant = at if isinstance(at, datetime) else parse_instant(at, what="--at") if at else None
        with self.store.read() as conn:
            catalog = self._catalog(conn)
            spec = catalog.workload(workload)
            head = records.ledger_head(conn)
            when = format_time(instant) if instant else format_time(datetime.now(UTC))
            held = records.holder_at(conn, spec.stack, Stage.PRODUCTION, when)
            if held is None:
                raise NotFound(
                    f"workload {workload} had no production stack at {when}"
                    if instant
                    else f"workload {workload} has no production stack yet",
                    entry=spec.stack,
                    hint=None if instant else f"promote a version of {spec.stack} to production",
                )
            version = records.version_row(conn, spec.stack, held["number"])
            components = [
                {
                    "entry": u["entry"],
                    "kind": u["kind"],
                    "version": u["version"],
                    "digest": u["digest"],
                }
                for u in records.upstream_of(conn, spec.stack, held["number"])
            ]
        return {
            "workload": workload,
            "stack": {
                "entry": spec.stack,
                "version": held["number"],
                "digest": version["digest"],
            },
            "components": components,
            "approved_by": loads(held["approved_by"]),
            "since": held["effective_from"],
            "request": held["request_id"],
            "as_of": {"time": when, "ledger_seq": head["seq"], "ledger_head": head["hash"]},
        }

    def history(self, entry: str, *, stage: str | None = None) -> list[dict[str, Any]]:
        """Every stage assignment of ``entry`` (optionally of one stage), oldest first."""
        check_name(entry)
        wanted = parse_stage(stage) if stage else None
        t = schema.stage_assignments
        with self.store.read() as conn:
            self._catalog(conn).entry(entry)
            query = select(t).where(t.c.entry == entry)
            if wanted is not None:
                query = query.where(t.c.stage == wanted)
            rows = conn.execute(query.order_by(t.c.effective_from, t.c.id)).mappings().all()
        return [
            {
                "entry": r["entry"],
                "version": r["number"],
                "stage": r["stage"],
                "effective_from": r["effective_from"],
                "effective_to": r["effective_to"],
                "actor": r["actor"],
                "reason": r["reason"],
                "cause": r["cause"],
                "request": r["request_id"],
                "approved_by": loads(r["approved_by"]),
                "ledger_seq": r["ledger_seq"],
            }
            for r in rows
        ]

    def review_due(self, *, entry: str | None = None) -> list[dict[str, Any]]:
        """Production versions whose approval is older than the policy's
        ``review_every_days`` or whose newest required evals are older than
        ``max_eval_age_days``: what needs a fresh review or a fresh eval run; and
        production provider models (or stacks pinning them) past or within
        ``DEPRECATION_NOTICE_DAYS`` of their deprecation date (``what: "deprecation"``,
        ``age_days`` counted from that date, negative before it; ``model`` names the
        provider model version).

        Every item is due because ``age_days`` exceeds ``limit_days``."""
        now = datetime.now(UTC)
        due: list[dict[str, Any]] = []
        t = schema.stage_assignments
        with self.store.read() as conn:
            catalog = self._catalog(conn)
            query = select(t).where(t.c.stage == Stage.PRODUCTION, t.c.effective_to.is_(None))
            if entry is not None:
                query = query.where(t.c.entry == entry)
            for held in conn.execute(query.order_by(t.c.entry)).mappings():
                name, number = held["entry"], held["number"]
                if name not in catalog.entries:
                    continue
                rule = catalog.policy.rule_for(Stage.PRODUCTION, catalog.risk_class(name))
                approved = parse_stored(held["effective_from"])
                if held["request_id"] is not None:
                    stamps = [
                        r["created_at"]
                        for r in records.approval_rows(conn, held["request_id"])
                        if r["decision"] == Decision.APPROVE
                    ]
                    approved = parse_stored(max(stamps)) if stamps else approved
                if rule.review_every_days is not None:
                    age = (now - approved).total_seconds() / 86400
                    if age > rule.review_every_days:
                        due.append(
                            {
                                "entry": name,
                                "version": number,
                                "what": "approval",
                                "age_days": round(age, 1),
                                "limit_days": rule.review_every_days,
                                "since": format_time(approved),
                            }
                        )
                if rule.max_eval_age_days is not None and rule.evals:
                    suites = set(catalog.suites_covering(name)) & set(rule.evals)
                    produced = [
                        e.produced_at
                        for e in records.eval_results(conn, name, number)
                        if e.suite in suites
                    ]
                    newest = max(produced) if produced else None
                    eval_age = (now - newest).total_seconds() / 86400 if newest else None
                    if suites and (eval_age is None or eval_age > rule.max_eval_age_days):
                        due.append(
                            {
                                "entry": name,
                                "version": number,
                                "what": "evals",
                                "age_days": None if eval_age is None else round(eval_age, 1),
                                "limit_days": rule.max_eval_age_days,
                                "since": format_time(newest) if newest else None,
                            }
                        )
                for model, pin in _provider_pins(conn, catalog, name, number).items():
                    ends = pin.deprecation_date if pin is not None else None
                    if pin is None or ends is None or not deprecation_problem(pin, now.date()):
                        continue
                    due.append(
                        {
                            "entry": name,
                            "version": number,
                            "what": "deprecation",
                            "age_days": float((now.date() - ends).days),
                            "limit_days": float(-DEPRECATION_NOTICE_DAYS),
                            "since": ends.isoformat(),
                            "model": model,
                        }
                    )
        return due

    def anchor(self) -> dict[str, Any]:
        """The ledger head as an anchor to keep outside the registry: ``{seq, hash, anchor}``
        where ``anchor`` is ``SEQ:HASH`` for ``registry audit verify --anchor``."""
        head = self.ledger_head()
        return {**head, "anchor": f"{head['seq']}:{head['hash']}"}

    def verify(self, *, anchor: str | None = None) -> dict[str, Any]:
        """Recompute the ledger chain and compare it with the recorded head, and with an
        anchor taken earlier (``SEQ:HASH`` or ``HASH``) when given.

        A chain that verifies but no longer holds the anchor's hash was rewritten (and
        rehashed) after the anchor was taken.

        Returns:
            ``{ok, events, head, broken_at, problem}``; ``broken_at`` is the first bad seq.

        Raises:
            BadInput: the anchor is malformed.
        """
        wanted_seq, wanted_hash = _parse_anchor(anchor) if anchor else (None, None)
        found_at: int | None = None
        with self.store.read() as conn:

            def watch() -> Iterator[LedgerEvent]:
                nonlocal found_at
                for event in records.ledger_events(conn):
                    if event.hash == wanted_hash and found_at is None:
                        found_at = event.seq
                    yield event

            result = verify_chain(watch())
            recorded = records.ledger_head(conn)
        out = {
            "ok": result.ok,
            "events": result.events,
            "head": result.head,
            "broken_at": result.broken_at,
            "problem": result.problem,
        }
        if result.ok and (recorded["seq"] != result.events or recorded["hash"] != result.head):
            out.update(
                ok=False,
                broken_at=result.events + 1 if recorded["seq"] > result.events else recorded["seq"],
                problem=(
                    f"the recorded head is event {recorded['seq']} ({recorded['hash'][:12]}), "
                    f"but the chain ends at event {result.events} ({result.head[:12]}): "
                    "events were removed from the end or the head was rewritten"
                ),
            )
        if wanted_hash is not None:
            out["anchor"] = {"seq": wanted_seq, "hash": wanted_hash, "found_at": found_at}
            if out["ok"] and (found_at is None or (wanted_seq and found_at != wanted_seq)):
                out.update(
                    ok=False,
                    broken_at=wanted_seq,
                    problem=(
                        f"the anchor {wanted_hash[:12]} (event {wanted_seq or '?'}) is not in "
                        "the chain: history up to the anchor was rewritten"
                    ),
                )
        return out


def _parse_anchor(text: str) -> tuple[int | None, str]:
    seq, _, digest = text.strip().rpartition(":")
    if not HEX64.fullmatch(digest) or (seq and not seq.isdigit()):
        raise BadInput(
            f"invalid anchor {text!r}: use SEQ:HASH as printed by `registry audit anchor`"
        )
    return (int(seq) if seq else None), digest


def _provider_pins(
    conn: Connection, catalog: Catalog, entry: str, number: int
) -> dict[str, ProviderPin | None]:
    """What each provider model a version concerns pins: the version itself when it is a
    provider model, a stack's pinned provider models, keyed ``ENTRY@VERSION``."""
    concerned: list[tuple[str, int]] = []
    kind = catalog.entry(entry).kind
    if kind is EntryKind.PROVIDER_MODEL:
        concerned.append((entry, number))
    elif kind is EntryKind.STACK:
        concerned += [
            (u["entry"], u["version"])
            for u in records.upstream_of(conn, entry, number)
            if u["kind"] == EntryKind.PROVIDER_MODEL
        ]
    return {
        f"{e}@{n}": ProviderPin.from_format(records.recorded_format(conn, e, n))
        for e, n in concerned
    }


def _store_gates(tx: Tx, request_id: int, results: Sequence[GateResult], seq: int) -> None:
    for g in results:
        tx.conn.execute(
            schema.gate_results.insert().values(
                request_id=request_id,
                ledger_seq=seq,
                evaluated_at=tx.now_text,
                name=g.name,
                passed=g.passed,
                detail=g.detail,
            )
        )


def _check_pins(entry: str, key: str, declared: Sequence[str], pins: Sequence[ExactRef]) -> None:
    names = [p.entry for p in pins]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{entry}: {dupes[0]} is pinned twice; pin each {key} entry once")
    foreign = sorted(set(names) - set(declared))
    if foreign:
        raise BadInput(
            f"{entry}: {foreign[0]} is not in its catalog {key} ({', '.join(declared) or 'none'})",
            entry=entry,
        )
    missing = sorted(set(declared) - set(names))
    if missing:
        flag = "--pin" if key == "components" else "--upstream"
        raise BadInput(
            f"{entry}: pin the exact version of {', '.join(missing)} ({flag} ENTRY@VERSION)",
            entry=entry,
        )


def _describe_source(source: str | Path) -> str:
    return str(Path(source).resolve())


def _eval_dict(e: Any) -> dict[str, Any]:
    return {
        "suite": e.suite,
        "suite_version": e.suite_version,
        "metrics": dict(e.metrics),
        "produced_at": format_time(e.produced_at),
        "recorded_by": e.recorded_by,
    }
