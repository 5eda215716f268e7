"""CycloneDX 1.6 ML-BOM of what each workload runs in production.

One BOM per workload: the production stack version is ``metadata.component``; every
version it pins, and transitively every upstream version of those (the base model and
datasets of an adapter, the embedding model and documents of an index), is a component
whose ``bom-ref`` is ``ENTRY@VERSION``. Each component's SHA-256 hash is the registry
digest of the version: the sha256 of its canonical file manifest (path, size, sha256 of
every file), or of its pin document for a stack, so it identifies the exact content even
though it is not the hash of any single file.

The BOM is a function of the snapshot alone: the timestamp is the ledger head's time and
the serial number is derived from the ledger head, so exporting the same state twice
gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import fixup_id
from cyclonedx.validation.json import JsonStrictValidator

from registry_pipeline.atomic_files import write_atomically
from registry_pipeline.core.catalog import CatalogEntry
from registry_pipeline.core.evals import EvalResult, latest_per_suite
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.times import format_time
from registry_pipeline.errors import BadInput, NotFound
from registry_pipeline.store.snapshot import Row, Snapshot

SPEC_VERSION = "1.6"
SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://registry-pipeline/cyclonedx")
BOM_SUFFIX = ".cdx.json"

# Why each non-model kind gets the CycloneDX type it does (the 1.6 enum has no prompt,
# index or eval-suite type):
# - datasets, retrieval indexes and eval suites are collections of data that are read,
#   never executed: an index is derived data (chunks and vectors) queried at run time and
#   an eval suite is the held-out examples the metrics were computed on, so `data` with a
#   `dataset` entry;
# - a prompt template is text that configures how the application calls the model, not
#   software, so `data` with a `configuration` entry;
# - a skill is a bundle of instructions and optional scripts with no closer type; `file`
#   claims content identity and nothing about what runs;
# - a stack nested in another stack would be a deployable whole, like the top one.
COMPONENT_TYPE: Mapping[EntryKind, tuple[str, str | None]] = {
    EntryKind.DATASET: ("data", "dataset"),
    EntryKind.RETRIEVAL_INDEX: ("data", "dataset"),
    EntryKind.EVAL_SUITE: ("data", "dataset"),
    EntryKind.PROMPT_TEMPLATE: ("data", "configuration"),
    EntryKind.SKILL: ("file", None),
    EntryKind.STACK: ("application", None),
}

# Only where the kind alone says what the model does; otherwise the task comes from the
# version's params or the catalog tags (`task`), or is left out rather than guessed.
DEFAULT_TASK: Mapping[EntryKind, str] = {
    EntryKind.BASE_MODEL: "text-generation",
    EntryKind.FINE_TUNE: "text-generation",
    EntryKind.LORA_ADAPTER: "text-generation",
    EntryKind.PROVIDER_MODEL: "text-generation",
    EntryKind.EMBEDDING_MODEL: "feature-extraction",
    EntryKind.RERANKER: "text-ranking",
}

LEARNING_APPROACHES = frozenset(
    {"supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised"}
)

# Card fields that have a home in `modelCard.considerations`; the rest become properties.
CONSIDERATION_FIELDS: Mapping[str, str] = {
    "users": "users",
    "intended_users": "users",
    "intended_use": "useCases",
    "use_cases": "useCases",
    "limitations": "technicalLimitations",
    "technical_limitations": "technicalLimitations",
    "performance_tradeoffs": "performanceTradeoffs",
    "tradeoffs": "performanceTradeoffs",
}
RISK_FIELDS = ("ethical_considerations", "risks")

SIMPLE_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalRun:
    """One ingested eval result of a version: every metric of one suite run."""

    eval_id: int | None
    suite: str
    suite_version: int
    produced_at: str
    recorded_at: str
    recorded_by: str
    metrics: Mapping[str, float]

    @property
    def suite_ref(self) -> str:
        """``SUITE@VERSION``."""
        return f"{self.suite}@{self.suite_version}"


def eval_runs(snap: Snapshot, entry: str, version: int) -> list[EvalRun]:
    """Every eval result recorded for a version, oldest first.

    Args:
        snap: the snapshot.
        entry: the entry name.
        version: the version number.

    Returns:
        One :class:`EvalRun` per ingested result.
    """
    runs = [_run(r) for r in snap.eval_results_of(entry, version)]
    # The results come in recording order, so a stable sort keeps ties in that order.
    return sorted(runs, key=lambda r: (r.produced_at, r.recorded_at))


def current_evals(snap: Snapshot, entry: str, version: int) -> list[EvalRun]:
    """The latest eval result of each suite for a version, by suite name.

    "Latest" is the promotion gate's rule
    (:func:`registry_pipeline.core.evals.latest_per_suite`), so the exports report the
    evidence the gate judged, not an older or a re-run result.

    Args:
        snap: the snapshot.
        entry: the entry name.
        version: the version number.

    Returns:
        At most one :class:`EvalRun` per suite, sorted by suite.
    """
    latest = latest_per_suite(snap.eval_results_of(entry, version))
    return [_run(latest[s]) for s in sorted(latest)]


def _run(result: EvalResult) -> EvalRun:
    return EvalRun(
        eval_id=result.id,
        suite=result.suite,
        suite_version=result.suite_version,
        produced_at=format_time(result.produced_at),
        recorded_at=format_time(result.recorded_at),
        recorded_by=result.recorded_by,
        metrics=dict(sorted(result.metrics.items())),
    )


def model_facts(spec: CatalogEntry, params: Mapping[str, Any]) -> dict[str, str]:
    """What is known about how a model was built: ``task``, ``approach``,
    ``architecture_family`` and ``model_architecture``, from the version's params first,
    then the catalog tags; ``task`` falls back to the kind's default where there is one.

    Args:
        spec: the catalog entry.
        params: the version's params (training configuration).

    Returns:
        The keys that are known, as text.
    """
    facts: dict[str, str] = {}
    for key, aliases in (
        ("task", ("task",)),
        ("approach", ("approach", "learning_approach")),
        ("architecture_family", ("architecture_family",)),
        ("model_architecture", ("model_architecture", "architecture")),
    ):
        for source in (params, spec.tags):
            found = next((source[a] for a in aliases if isinstance(source.get(a), str)), None)
            if found:
                facts[key] = found
                break
    if "task" not in facts and spec.kind in DEFAULT_TASK:
        facts["task"] = DEFAULT_TASK[spec.kind]
    return facts


def upstream_closure(snap: Snapshot, roots: Iterable[Row]) -> list[Row]:
    """``roots`` and every version upstream of them, transitively, each once.

    Args:
        snap: the snapshot.
        roots: version rows to start from.

    Returns:
        Version rows sorted by ``(entry, version)``.
    """
    seen: dict[tuple[str, int], Row] = {}
    for root in roots:
        seen[(root["entry"], root["version"])] = root
        for key in snap.upstream_closure(root["entry"], root["version"]):
            seen.setdefault(key, snap.version(*key))
    return [seen[k] for k in sorted(seen)]


def bom_ref(entry: str, version: int) -> str:
    """The stable ``bom-ref`` of a version: ``ENTRY@VERSION``."""
    return f"{entry}@{version}"


def build_bom(snap: Snapshot, workload: str) -> dict[str, Any]:
    """The CycloneDX 1.6 ML-BOM of the production stack of ``workload``.

    Args:
        snap: the snapshot to describe; the BOM records its ledger head.
        workload: a workload declared in the catalog.

    Returns:
        The BOM as a JSON-ready dict (not validated; see :func:`validate_bom`).

    Raises:
        NotFound: the workload is unknown or no stack version holds production for it.
    """
    found = snap.production_stack(workload)
    if found is None:
        stack_name = snap.catalog.workload(workload).stack
        raise NotFound(
            f"workload {workload!r} has no production stack: no version of {stack_name} "
            "holds production; promote one first",
            entry=stack_name,
            stage="production",
        )
    stack, pinned = found
    versions = upstream_closure(snap, pinned)
    stack_ref = bom_ref(stack["entry"], stack["version"])
    dependencies = [{"ref": stack_ref, "dependsOn": sorted(_refs_of(snap, stack))}]
    dependencies += [
        {"ref": bom_ref(v["entry"], v["version"]), "dependsOn": sorted(_refs_of(snap, v))}
        for v in versions
    ]
    return {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": _serial_number(snap, workload),
        "version": 1,
        "metadata": {
            "timestamp": snap.head_time,
            "lifecycles": [{"phase": "operations"}],
            "tools": {"components": _tools()},
            "component": _stack_component(snap, workload, stack),
            "properties": _properties(
                [
                    ("registry:workload", workload),
                    ("registry:ledger_head", snap.head_hash),
                    ("registry:ledger_seq", snap.head_seq),
                    ("registry:ledger_time", snap.head_time),
                    ("registry:catalog_digest", snap.catalog_digest),
                ]
            ),
        },
        "components": [_component(snap, v) for v in versions],
        "dependencies": dependencies,
    }


def validate_bom(document: Mapping[str, Any]) -> None:
    """Check a BOM against the CycloneDX 1.6 JSON schema in strict mode (offline, with the
    schemas shipped by cyclonedx-python-lib), then that every reference resolves: each
    ``dependencies[].ref``, ``dependsOn``/``provides`` item and model-card dataset ``ref``
    names a ``bom-ref`` in the document, and no ``bom-ref`` is used twice.

    Args:
        document: the BOM as a JSON-ready mapping.

    Raises:
        BadInput: the first problem found, in one line.
    """
    try:
        text = json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise BadInput(f"CycloneDX BOM is not JSON-serialisable: {e}") from e
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise BadInput(f"CycloneDX {SPEC_VERSION} schema: {_one_line(error)}")
    refs: set[str] = set()
    for where, ref in _declared_refs(document):
        if ref in refs:
            raise BadInput(f"CycloneDX BOM: bom-ref {ref!r} is declared twice ({where})")
        refs.add(ref)
    for where, ref in _used_refs(document):
        if ref not in refs:
            raise BadInput(f"CycloneDX BOM: {where} {ref!r} matches no bom-ref in the document")


def write_boms(snap: Snapshot, out_dir: str | Path) -> list[Path]:
    """Write ``<workload>.cdx.json`` for every workload with a production stack.

    Each BOM is validated before it is written, and written atomically (a temporary file
    renamed over the target), so a reader never sees a half-written or invalid BOM.

    Args:
        snap: the snapshot to export.
        out_dir: the folder to write to; created if missing.

    Returns:
        The paths written, by workload name.

    Raises:
        BadInput: a BOM fails validation (nothing more is written).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for workload in sorted(snap.catalog.workloads):
        if snap.production_stack(workload) is None:
            continue
        document = build_bom(snap, workload)
        validate_bom(document)
        path = out / f"{workload}{BOM_SUFFIX}"
        write_atomically(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def _serial_number(snap: Snapshot, workload: str) -> str:
    name = f"{workload}:{snap.head_seq}:{snap.head_hash}:{snap.catalog_digest or ''}"
    return uuid.uuid5(SERIAL_NAMESPACE, name).urn


def _tools() -> list[dict[str, Any]]:
    tools = []
    for kind, name in (("application", "registry-pipeline"), ("library", "cyclonedx-python-lib")):
        tool: dict[str, Any] = {"type": kind, "name": name}
        with contextlib.suppress(package_metadata.PackageNotFoundError):
            tool["version"] = package_metadata.version(name)
        tools.append(tool)
    return tools


def _refs_of(snap: Snapshot, version: Row) -> set[str]:
    return {
        bom_ref(e["upstream_entry"], e["upstream_version"])
        for e in snap.upstream(version["entry"], version["version"])
    }


def _stack_component(snap: Snapshot, workload: str, stack: Row) -> dict[str, Any]:
    spec = snap.catalog.entry(stack["entry"])
    held = snap.holder(stack["entry"])
    extra: list[tuple[str, Any]] = [
        ("registry:workload", workload),
        *(
            (f"registry:target:{t.name}", t.manifest)
            for t in snap.catalog.workload(workload).targets
        ),
    ]
    if held is not None:
        extra += [
            ("registry:production_since", held["effective_from"]),
            ("registry:production_request", held["request_id"]),
            ("registry:production_requester", held["requester"]),
            ("registry:production_approved_by", ", ".join(held["approved_by"] or [])),
        ]
    # An application must not carry a modelCard, so a stack's own eval results and card
    # are recorded as properties.
    for run in current_evals(snap, stack["entry"], stack["version"]):
        extra += [
            (f"registry:eval:{run.suite_ref}:{metric}", _number(value))
            for metric, value in sorted(run.metrics.items())
        ]
    return _base_component(snap, spec, stack, "application", extra, card_as_properties=True)


def _component(snap: Snapshot, version: Row) -> dict[str, Any]:
    spec = snap.catalog.entry(version["entry"])
    if spec.kind.is_model:
        component = _base_component(snap, spec, version, "machine-learning-model", [])
        component["modelCard"] = _model_card(snap, spec, version)
        return component
    kind, data_type = COMPONENT_TYPE.get(spec.kind, ("file", None))
    component = _base_component(snap, spec, version, kind, [], card_as_properties=True)
    if data_type is not None:
        data: dict[str, Any] = {"type": data_type, "name": spec.name}
        if spec.description:
            data["description"] = spec.description
        data["governance"] = {"owners": [{"contact": _contact(spec.owner)}]}
        component["data"] = [data]
    return component


def _base_component(
    snap: Snapshot,
    spec: CatalogEntry,
    version: Row,
    kind: str,
    extra: list[tuple[str, Any]],
    *,
    card_as_properties: bool = False,
) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": kind,
        "bom-ref": bom_ref(version["entry"], version["version"]),
        "name": version["entry"],
        "version": str(version["version"]),
    }
    if spec.description:
        component["description"] = spec.description
    component["hashes"] = [{"alg": "SHA-256", "content": version["digest"]}]
    if spec.license:
        component["licenses"] = [{"license": _license(spec.license)}]
    props: list[tuple[str, Any]] = [
        ("registry:kind", spec.kind.value),
        ("registry:owner", spec.owner),
        ("registry:risk_class", spec.risk_class),
        ("registry:intended_use", spec.intended_use),
        ("registry:stage", version["stage"]),
        ("registry:created_at", version["created_at"]),
        ("registry:created_by", version["created_by"]),
        ("registry:size", version["size"]),
        ("registry:file_count", version["file_count"]),
        *((f"registry:tag:{k}", v) for k, v in sorted(spec.tags.items())),
        *((f"registry:param:{k}", v) for k, v in sorted(version["params"].items())),
        *extra,
    ]
    card = snap.cards.get((version["entry"], version["version"]))
    if card is not None:
        props += [
            ("registry:card_set_at", card["set_at"]),
            ("registry:card_set_by", card["set_by"]),
        ]
        consumed = set() if card_as_properties else _consumed_card_fields(card["fields"])
        props += [
            (f"registry:card:{name}", value)
            for name, value in card["fields"].items()
            if name not in consumed
        ]
    component["properties"] = _properties(props)
    return component


def _model_card(snap: Snapshot, spec: CatalogEntry, version: Row) -> dict[str, Any]:
    facts = model_facts(spec, version["params"])
    parameters: dict[str, Any] = {}
    if facts.get("approach") in LEARNING_APPROACHES:
        parameters["approach"] = {"type": facts["approach"]}
    for key, name in (
        ("task", "task"),
        ("architecture_family", "architectureFamily"),
        ("model_architecture", "modelArchitecture"),
    ):
        if key in facts:
            parameters[name] = facts[key]
    datasets = [
        {"ref": bom_ref(e["upstream_entry"], e["upstream_version"])}
        for e in snap.upstream(version["entry"], version["version"])
        if snap.catalog.entry(e["upstream_entry"]).kind is EntryKind.DATASET
    ]
    if datasets:
        parameters["datasets"] = datasets
    card: dict[str, Any] = {}
    if parameters:
        card["modelParameters"] = parameters
    metrics = [
        {"type": metric, "value": _number(value), "slice": run.suite_ref}
        for run in current_evals(snap, version["entry"], version["version"])
        for metric, value in sorted(run.metrics.items())
    ]
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    considerations = _considerations(snap, spec, version)
    if considerations:
        card["considerations"] = considerations
    return card


def _considerations(snap: Snapshot, spec: CatalogEntry, version: Row) -> dict[str, Any]:
    card = snap.cards.get((version["entry"], version["version"]))
    fields: Mapping[str, Any] = card["fields"] if card else {}
    out: dict[str, list[Any]] = {}
    for name, value in fields.items():
        target = CONSIDERATION_FIELDS.get(name)
        if target is not None:
            out.setdefault(target, []).extend(_texts(value))
        elif name in RISK_FIELDS:
            out.setdefault("ethicalConsiderations", []).extend(
                {"name": text} for text in _texts(value)
            )
    if "useCases" not in out and spec.intended_use:
        out["useCases"] = [spec.intended_use]
    return {k: v for k, v in out.items() if v}


def _consumed_card_fields(fields: Mapping[str, Any]) -> set[str]:
    return {n for n in fields if n in CONSIDERATION_FIELDS or n in RISK_FIELDS}


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v) for v in items if str(v).strip()]


def _license(declared: str) -> dict[str, str]:
    spdx = fixup_id(declared)
    return {"id": spdx} if spdx else {"name": declared}


def _contact(owner: str) -> dict[str, str]:
    return {"email": owner} if SIMPLE_EMAIL.fullmatch(owner) else {"name": owner}


def _number(value: float) -> str:
    return repr(float(value))


def _properties(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, str]]:
    out = []
    for name, value in pairs:
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            text = "\n".join(str(v) for v in value)
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        out.append({"name": name, "value": text})
    return out


def _one_line(error: Any) -> str:
    detail = getattr(error, "data", None)
    message = getattr(detail, "message", None) or str(error)
    path = getattr(detail, "json_path", None)
    text = " ".join(str(message).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{text} (at {path})" if path else text


def _declared_refs(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    top = (document.get("metadata") or {}).get("component")
    if isinstance(top, Mapping):
        yield from _component_refs(top, "metadata.component")
    for i, component in enumerate(document.get("components") or []):
        yield from _component_refs(component, f"components[{i}]")
    for i, service in enumerate(document.get("services") or []):
        if isinstance(service, Mapping) and "bom-ref" in service:
            yield f"services[{i}]", service["bom-ref"]


def _component_refs(component: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    if "bom-ref" in component:
        yield where, component["bom-ref"]
    for i, child in enumerate(component.get("components") or []):
        yield from _component_refs(child, f"{where}.components[{i}]")


def _used_refs(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for i, dep in enumerate(document.get("dependencies") or []):
        yield f"dependencies[{i}].ref", dep["ref"]
        for key in ("dependsOn", "provides"):
            for j, ref in enumerate(dep.get(key) or []):
                yield f"dependencies[{i}].{key}[{j}]", ref
    for i, component in enumerate(document.get("components") or []):
        parameters = (component.get("modelCard") or {}).get("modelParameters") or {}
        for j, dataset in enumerate(parameters.get("datasets") or []):
            ref = dataset.get("ref")
            # A BOM-Link (urn:cdx:...) points into another BOM; only local refs can be checked.
            if ref is not None and not str(ref).startswith("urn:cdx:"):
                yield f"components[{i}].modelCard.modelParameters.datasets[{j}].ref", ref
