"""Registering versions: content from a folder or file, a stack's pins, or an import."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.catalog import Catalog, Operation
from registry_pipeline.core.digests import HEX64, digest_of_document
from registry_pipeline.core.kinds import EntryKind, check_name
from registry_pipeline.core.provider import ProviderPin, registration_warnings
from registry_pipeline.core.refs import ExactRef, parse_exact
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput, Conflict, Step
from registry_pipeline.hashcache import HashCache
from registry_pipeline.service import evidence, pipeline
from registry_pipeline.service.context import Context, KnownCatalog
from registry_pipeline.service.results import Registered
from registry_pipeline.sources import Progress, read_source
from registry_pipeline.store import dumps, stages, versions

if TYPE_CHECKING:
    from registry_pipeline.formats import Detected
    from registry_pipeline.inspection import Inspection

STACK_FORMAT = "registry-pipeline/stack/v1"
PROVIDER_FORMAT = "registry-pipeline/provider-model/v1"


def register(
    ctx: Context,
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
    """Register the content at ``source`` as a version of ``entry``; identical content
    returns the existing version.

    Raises:
        NotFound: unknown entry or upstream version.
        SourceError: the source cannot be read or escapes its folder.
        BadInput: upstream pins do not match the catalog.
        Conflict: the same content is registered with different lineage or params.
    """
    from registry_pipeline.formats import detect
    from registry_pipeline.inspection import Inspection, expect_digest

    detected = detect(source)
    known, pins, notes = _plan(ctx, entry, upstream, detected)
    cache = HashCache(refresh=rehash)
    try:
        manifest = read_source(source, exclude=exclude, cache=cache, progress=progress)
    finally:
        cache.close()
    inspection = Inspection(
        detected=detected, manifest=manifest, source=str(Path(source).resolve())
    )
    expect_digest(inspection, expected_digest, entry=entry)
    return _record(ctx, entry, known, inspection, params, pins, notes)


def register_inspected(
    ctx: Context,
    entry: str,
    inspection: Inspection,
    *,
    params: Mapping[str, Any] | None = None,
    upstream: Sequence[str] = (),
) -> Registered:
    """Record a source inspected elsewhere (by a client of the server) as a version of
    ``entry``, exactly as :func:`register` records one it inspected itself."""
    known, pins, notes = _plan(ctx, entry, upstream, inspection.detected)
    return _record(ctx, entry, known, inspection, params, pins, notes)


def _plan(
    ctx: Context, entry: str, upstream: Sequence[str], detected: Detected
) -> tuple[KnownCatalog, list[ExactRef], dict[str, list[Any]]]:
    """The catalog, and the upstream pins (given and resolved from the artifact's hints),
    checked against what the catalog declares, before any byte is hashed."""
    check_name(entry)
    known = ctx.known_catalog()
    catalog = known.catalog
    spec = catalog.entry(entry)
    if spec.kind is EntryKind.STACK:
        raise BadInput(f"{entry} is a stack", entry=entry, step=Step.STACK_PINS)
    pins = [parse_exact(p) for p in upstream]
    pins, notes = _resolve_hints(ctx, catalog, spec.name, spec.upstream, pins, detected)
    check_pins(entry, "upstream", spec.upstream, pins)
    return known, pins, notes


def _record(
    ctx: Context,
    entry: str,
    known: KnownCatalog,
    inspection: Inspection,
    params: Mapping[str, Any] | None,
    pins: Sequence[ExactRef],
    notes: Mapping[str, list[Any]],
) -> Registered:
    detected, manifest = inspection.detected, inspection.manifest
    digest, document = manifest.digest, manifest.to_dict()
    if detected.format == "provider-model":
        # A hosted model has no weights: its identity is the pinned spec, so the same
        # provider, model id and snapshot is the same version whatever the file says.
        digest = str(detected.facts["digest"])
        document = {
            "format": PROVIDER_FORMAT,
            "digest": digest,
            "spec": detected.facts,
            "files": document["files"],
        }
    facts = {
        **detected.to_dict(),
        "resolved_upstream": notes["resolved"],
        "unresolved_upstream": notes["unresolved"],
    }
    result = record_version(
        ctx,
        entry,
        digest,
        manifest=document,
        size=manifest.size,
        file_count=manifest.file_count,
        source=inspection.source,
        params=dict(params or {}),
        pins=pins,
        relation="upstream",
        format_facts=facts,
        known=known,
    )
    catalog = known.catalog
    warnings = [*detected.warnings, *notes["warnings"], *provider_warnings(facts)]
    if result.created:
        warnings += _ingest_reported_evals(ctx, catalog, result, detected.evals)
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


def latest_versions(ctx: Context, entries: Sequence[str]) -> dict[str, int | None]:
    """The newest version number of each of ``entries`` (``None`` when it has none)."""
    with ctx.store.read() as conn:
        return versions.latest_numbers(conn, entries)


def _resolve_hints(
    ctx: Context,
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
        if number.isdigit():
            pin = ExactRef(entry=chosen, version=int(number))
        else:
            latest = pipeline.latest_pins(partial(latest_versions, ctx), entry, [chosen])
            if latest.missing:
                notes["unresolved"].append(hint)
                notes["warnings"].append(
                    f"{hint.get('from')}: {chosen} has no version yet; register it first"
                )
                continue
            [pin] = latest.pins
        pins.append(pin)
        pinned.add(chosen)
        notes["resolved"].append({**hint, "pinned": str(pin)})
    return pins, notes


def _ingest_reported_evals(
    ctx: Context, catalog: Catalog, result: Registered, evals: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Eval results shipped inside the artifact (model-index, lm-eval) become evidence
    when a catalog eval suite that evaluates this entry has the dataset's name."""
    warnings = []
    suites = sorted(catalog.suites_covering(result.entry))
    for item in evals:
        dataset = str(item.get("dataset") or item.get("task") or "")
        task = str(item.get("task") or "")
        names = {dataset, dataset.lower(), task, task.lower()} - {""}
        suite = next((s for s in suites if s in names), None)
        version = latest_versions(ctx, [suite])[suite] if suite else None
        if suite is None or version is None:
            warnings.append(
                f"eval results for {dataset!r} ({item.get('source')}) recorded as reported "
                f"only: no registered eval suite of that name evaluates {result.entry}"
            )
            continue
        evidence.ingest_evals(
            ctx,
            f"{result.entry}@{result.version}",
            {
                "metrics": item["metrics"],
                "produced_at": item.get("produced_at"),
                "details": {"source": item.get("source"), "task": item.get("task")},
            },
            suite=f"{suite}@{version}",
        )
    return warnings


def provider_warnings(facts: Mapping[str, Any]) -> list[str]:
    """What a newcomer must hear when a provider model pins nothing that runs, or a snapshot
    the provider retires soon (:func:`registry_pipeline.core.provider.registration_warnings`)."""
    pin = ProviderPin.from_format(facts)
    return registration_warnings(pin, datetime.now(UTC).date()) if pin is not None else []


def register_stack(ctx: Context, stack: str, pins: Sequence[str]) -> Registered:
    """Register a stack version pinning exact versions of each of its components.

    Raises:
        BadInput: ``stack`` is not a stack, or a component is missing or foreign.
        NotFound: a pinned version does not exist.
    """
    check_name(stack)
    with ctx.store.read() as conn:
        spec = ctx.catalog(conn).entry(stack)
        if spec.kind is not EntryKind.STACK:
            raise BadInput(f"{stack} is a {spec.kind}, not a stack", step=Step.PINS_ARE_FOR_STACKS)
        refs = [parse_exact(p) for p in pins]
        check_pins(stack, "components", spec.components, refs)
        components = [
            {
                "entry": ref.entry,
                "version": ref.version,
                "digest": versions.version(conn, ref.entry, ref.version).digest,
            }
            for ref in sorted(refs, key=lambda r: r.entry)
        ]
    document = {"stack": stack, "components": components}
    digest = digest_of_document(document, format_name=STACK_FORMAT)
    return record_version(
        ctx,
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
    ctx: Context,
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
    """Record a version brought from another registry, marked imported with its origin."""
    check_name(entry)
    with ctx.store.read() as conn:
        spec = ctx.catalog(conn).entry(entry)
    if spec.kind is EntryKind.STACK:
        raise BadInput(f"{entry} is a stack; stacks are assembled here, not imported")
    if not HEX64.fullmatch(digest):
        raise BadInput(f"digest for {entry} must be 64 lowercase hex characters")
    return record_version(
        ctx,
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


def record_version(
    ctx: Context,
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
    known: KnownCatalog | None = None,
) -> Registered:
    """Record a version (idempotent on identical content) with its lineage, candidate
    stage and ledger event, in one transaction (``known``: the catalog the caller read
    just before, reused when nothing moved since)."""
    try:
        params_json = dumps(params)
    except (TypeError, ValueError) as e:
        raise BadInput(f"training config for {entry} is not JSON-serialisable: {e}") from e
    lineage = sorted((p.entry, p.version) for p in pins)
    imported = origin is not None
    with ctx.write(known=known) as tx:
        ctx.require(ctx.catalog_in(tx), Operation.IMPORT if imported else Operation.REGISTER, entry)
        existing = versions.by_digest(tx.conn, entry, digest)
        if existing is not None:
            recorded = sorted(
                (u.entry, u.version) for u in versions.upstream_of(tx.conn, entry, existing.number)
            )
            if recorded != lineage or (params and dict(existing.params) != json.loads(params_json)):
                raise Conflict(
                    f"{entry}@{existing.number} already has this content with different "
                    "lineage or training config; content identity is immutable",
                    entry=entry,
                    version=existing.number,
                )
            return Registered(
                entry=entry,
                version=existing.number,
                digest=digest,
                size=existing.size,
                file_count=existing.file_count,
                created=False,
            )
        upstream_rows = [
            {"entry": e, "version": n, "digest": versions.version(tx.conn, e, n).digest}
            for e, n in lineage
        ]
        number = versions.allocate_number(tx.conn, entry)
        versions.insert(
            tx.conn,
            entry=entry,
            number=number,
            digest=digest,
            size=size,
            file_count=file_count,
            manifest=manifest,
            source=source,
            params_json=params_json,
            at=tx.now_text,
            actor=ctx.actor,
            format_facts=format_facts or {},
            origin=origin,
            lineage=lineage,
            relation=relation,
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
            "version.import" if imported else "version.register", f"{entry}@{number}", payload
        )
        stages.open_(
            tx.conn,
            entry=entry,
            number=number,
            stage=Stage.CANDIDATE,
            at=tx.now_text,
            actor=ctx.actor,
            reason="imported" if imported else "registered",
            cause="import" if imported else "register",
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


def check_pins(entry: str, key: str, declared: Sequence[str], pins: Sequence[ExactRef]) -> None:
    """Each declared ``key`` entry (upstream or components) pinned exactly once, and
    nothing else.

    Raises:
        BadInput: a duplicate, foreign or missing pin.
    """
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
        raise BadInput(
            f"{entry}: pin the exact version of {', '.join(missing)}",
            entry=entry,
            step=Step.PIN_COMPONENTS if key == "components" else Step.PIN_UPSTREAM,
        )
