"""Shared pieces of the governance exports (EU AI Act, ISO/IEC 42001, NIST AI RMF).

:class:`Evidence` indexes a :class:`Snapshot` once so the exports can point every claim at
registry evidence (``entry@version``, digest, request id, ledger seq) without rescanning
the snapshot per row. The Markdown helpers and :func:`write_document` keep the three
renderings alike.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from registry_pipeline.atomic_files import write_atomically
from registry_pipeline.core.catalog import CatalogEntry
from registry_pipeline.core.evals import latest_per_suite
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage
from registry_pipeline.core.times import parse_instant
from registry_pipeline.store.snapshot import Row, Snapshot

#: What a field the registry cannot know says, so a person knows to supply it.
TO_BE_PROVIDED = "to be provided"
#: The ``source`` of such a field.
NOT_HELD = "not held by the registry"

#: Kinds taken to be pre-trained models obtained from outside (the registry does not record
#: the supplier, so this is by kind).
PRETRAINED_KINDS = frozenset(
    {EntryKind.BASE_MODEL, EntryKind.EMBEDDING_MODEL, EntryKind.PROVIDER_MODEL}
)
#: Kinds that are tools of the system rather than data: models, prompts, indexes, suites.
TOOLING_KINDS = frozenset(
    {
        EntryKind.BASE_MODEL,
        EntryKind.FINE_TUNE,
        EntryKind.LORA_ADAPTER,
        EntryKind.EMBEDDING_MODEL,
        EntryKind.CLASSIFIER,
        EntryKind.RERANKER,
        EntryKind.PROVIDER_MODEL,
        EntryKind.PROMPT_TEMPLATE,
        EntryKind.RETRIEVAL_INDEX,
        EntryKind.EVAL_SUITE,
        EntryKind.SKILL,
    }
)


def ref(entry: str, version: int) -> str:
    """``entry@version``."""
    return f"{entry}@{version}"


def header(snap: Snapshot, fmt: str, module: str) -> dict[str, Any]:
    """The fields every governance document starts with."""
    try:
        package = f"registry-pipeline {metadata.version('registry-pipeline')}"
    except metadata.PackageNotFoundError:
        package = "registry-pipeline"
    return {
        "format": fmt,
        "as_of": snap.as_of,
        "catalog_digest": snap.catalog_digest,
        "generated_by": f"{module} ({package})",
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Production:
    """What a workload runs now: the open production assignment of its stack."""

    workload: str
    holder: Row
    stack: Row
    components: list[Row]

    @property
    def ref(self) -> str:
        """``stack@version``."""
        return ref(self.stack["entry"], self.stack["version"])

    def summary(self) -> Row:
        """Ref, digest, since when, and the request and ledger seq that put it there."""
        return {
            "ref": self.ref,
            "digest": self.stack["digest"],
            "since": self.holder["effective_from"],
            "request_id": self.holder["request_id"],
            "ledger_seq": self.holder["ledger_seq"],
        }


class Evidence:
    """A snapshot indexed for evidence look-ups."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.catalog = snap.catalog
        self._registered: dict[tuple[str, int], Row] = {}
        self._history: dict[str, list[Row]] = defaultdict(list)
        for s in snap.stages:
            self._history[s["entry"]].append(s)
            if s["cause"] == "register":
                self._registered[(s["entry"], s["version"])] = s
        self._up: dict[tuple[str, int], list[Row]] = defaultdict(list)
        self._down: dict[tuple[str, int], list[Row]] = defaultdict(list)
        for e in snap.lineage:
            self._up[(e["entry"], e["version"])].append(e)
            self._down[(e["upstream_entry"], e["upstream_version"])].append(e)
        self._evals: dict[tuple[str, int], list[Row]] = defaultdict(list)
        for r in snap.evals:
            self._evals[(r["entry"], r["version"])].append(r)
        self._approvals: dict[int, list[Row]] = defaultdict(list)
        for a in snap.approvals:
            self._approvals[a["request_id"]].append(a)
        self._gates: dict[int, list[Row]] = defaultdict(list)
        for g in snap.gates:
            self._gates[g["request_id"]].append(g)
        self.now = parse_instant(snap.head_time)

    def entry(self, name: str) -> CatalogEntry | None:
        """The catalog entry, or ``None`` when the catalog no longer declares it."""
        return self.catalog.entries.get(name)

    def kind(self, name: str) -> EntryKind | None:
        """The entry's kind, or ``None`` when undeclared."""
        spec = self.entry(name)
        return spec.kind if spec else None

    def risk_class(self, name: str) -> str | None:
        """The governing risk class (a stack's is the highest of its parts)."""
        return self.catalog.risk_class(name) if name in self.catalog.entries else None

    def registered_seq(self, entry: str, version: int) -> int | None:
        """The ledger seq of the event that registered ``entry@version``."""
        row = self._registered.get((entry, version))
        return row["ledger_seq"] if row else None

    def version_row(self, entry: str, version: int) -> Row:
        """A version as evidence: ref, kind, digest, license, owner, stage and the ledger
        seq that registered it."""
        v = self.snap.version(entry, version)
        spec = self.entry(entry)
        return {
            "ref": ref(entry, version),
            "entry": entry,
            "version": version,
            "kind": spec.kind.value if spec else None,
            "digest": v["digest"],
            "license": spec.license if spec else None,
            "owner": spec.owner if spec else None,
            "description": spec.description if spec else None,
            "stage": v["stage"],
            "created_at": v["created_at"],
            "created_by": v["created_by"],
            "ledger_seq": self.registered_seq(entry, version),
        }

    def upstream(self, entry: str, version: int) -> list[Row]:
        """Direct upstream edges of a version."""
        return self._up.get((entry, version), [])

    def downstream(self, entry: str, version: int) -> list[Row]:
        """Direct downstream edges of a version (versions built from or pinning it)."""
        return self._down.get((entry, version), [])

    def closure(self, entry: str, version: int) -> list[tuple[str, int]]:
        """Every version ``entry@version`` is built from, transitively, nearest first."""
        return self.snap.upstream_closure(entry, version)

    def reaches(self, entry: str, version: int) -> list[str]:
        """Refs of every version built from ``entry@version``, transitively, sorted."""
        seen: set[tuple[str, int]] = set()
        queue = [(entry, version)]
        while queue:
            current = queue.pop(0)
            for e in self.downstream(*current):
                key = (e["entry"], e["version"])
                if key not in seen:
                    seen.add(key)
                    queue.append(key)
        return sorted(ref(*k) for k in seen)

    def declared_closure(self, name: str) -> list[str]:
        """Entries ``name`` declares as components or upstream in the catalog, transitively,
        nearest first (what a system is meant to be built from when no version says so)."""
        seen: set[str] = set()
        order: list[str] = []
        queue = [name]
        while queue:
            spec = self.entry(queue.pop(0))
            if spec is None:
                continue
            for child in (*spec.components, *spec.upstream):
                if child not in seen and child != name:
                    seen.add(child)
                    order.append(child)
                    queue.append(child)
        return order

    def declared_row(self, name: str) -> Row:
        """A catalog entry as evidence (no version: declared only)."""
        spec = self.catalog.entry(name)
        return {
            "entry": name,
            "kind": spec.kind.value,
            "license": spec.license,
            "owner": spec.owner,
            "description": spec.description,
            "declared_only": True,
        }

    def evals(self, entry: str, version: int) -> list[Row]:
        """Eval results of a version as evidence, one row per metric, with the suite's
        version and digest. ``current`` marks the latest result of each suite, the one a
        promotion gate judges (:func:`registry_pipeline.core.evals.latest_per_suite`)."""
        results = self._evals.get((entry, version), [])
        current = {
            r.id for r in latest_per_suite(self.snap.eval_results_of(entry, version)).values()
        }
        digest = self.snap.version(entry, version)["digest"]
        rows = []
        for r in results:
            suite = self.snap.version(r["suite"], r["suite_version"])
            rows.append(
                {
                    "ref": ref(entry, version),
                    "digest": digest,
                    "suite": ref(r["suite"], r["suite_version"]),
                    "suite_digest": suite["digest"],
                    "metric": r["metric"],
                    "value": r["value"],
                    "produced_at": r["produced_at"],
                    "recorded_at": r["recorded_at"],
                    "recorded_by": r["recorded_by"],
                    "eval_id": r["eval_id"],
                    "current": r["eval_id"] in current,
                }
            )
        return rows

    def approvals(self, request_id: int | None) -> list[Row]:
        """Approval decisions on a request, oldest first."""
        return self._approvals.get(request_id, []) if request_id is not None else []

    def gates(self, request_id: int | None) -> list[Row]:
        """Gate results recorded when a request was applied."""
        return self._gates.get(request_id, []) if request_id is not None else []

    def history(self, entry: str) -> list[Row]:
        """Stage assignments of an entry, oldest first."""
        return self._history.get(entry, [])

    def change_row(self, s: Row) -> Row:
        """A stage assignment as lifecycle evidence."""
        return {
            "ref": ref(s["entry"], s["version"]),
            "digest": self.snap.version(s["entry"], s["version"])["digest"],
            "stage": s["stage"],
            "cause": s["cause"],
            "effective_from": s["effective_from"],
            "effective_to": s["effective_to"],
            "actor": s["actor"],
            "reason": s["reason"],
            "request_id": s["request_id"],
            "requester": s["requester"],
            "approved_by": s["approved_by"],
            "ledger_seq": s["ledger_seq"],
        }

    def production(self, workload: str) -> Production | None:
        """The production stack of a workload and its pinned components, or ``None``."""
        found = self.snap.production_stack(workload)
        if found is None:
            return None
        stack, components = found
        holder = self.snap.holder(stack["entry"])
        assert holder is not None
        return Production(
            workload=workload,
            holder=holder,
            stack=stack,
            components=sorted(components, key=lambda c: (c["entry"], c["version"])),
        )

    def production_thresholds(self, stack: str, risk: str | None) -> list[Row]:
        """The eval thresholds the policy demands for promoting ``stack`` (of risk class
        ``risk``) to production, from the suites that cover it."""
        rule = self.catalog.policy.rule_for(Stage.PRODUCTION, risk)
        suites = set(self.catalog.suites_covering(stack)) if self.entry(stack) else set()
        return [
            {
                "suite": suite,
                "metric": t.metric,
                "op": t.op,
                "value": t.value,
                "source": f"registry:catalog.policy.stages.production.evals.{suite}",
            }
            for suite, ts in sorted(rule.evals.items())
            if suite in suites
            for t in ts
        ]


def inventory(ev: Evidence) -> dict[str, list[Row]]:
    """Every AI system (workload) and every entry with owner, kind, risk class and the
    lifecycle stage of each version."""
    catalog = ev.catalog
    systems = []
    for name in sorted(catalog.workloads):
        w = catalog.workloads[name]
        prod = ev.production(name)
        stack = ev.entry(w.stack)
        systems.append(
            {
                "workload": name,
                "stack": w.stack,
                "owner": stack.owner if stack else None,
                "risk_class": ev.risk_class(w.stack),
                "targets": [t.name for t in w.targets],
                "production": prod.summary() if prod else None,
            }
        )
    versions: dict[str, list[Row]] = defaultdict(list)
    for v in ev.snap.versions:
        versions[v["entry"]].append(
            {
                "ref": ref(v["entry"], v["version"]),
                "version": v["version"],
                "digest": v["digest"],
                "stage": v["stage"],
                "ledger_seq": ev.registered_seq(v["entry"], v["version"]),
            }
        )
    serving: dict[str, list[str]] = defaultdict(list)
    for w in catalog.workloads.values():
        serving[w.stack].append(w.name)
    entries = []
    for name in sorted(set(catalog.entries) | set(versions)):
        spec = ev.entry(name)
        entries.append(
            {
                "entry": name,
                "kind": spec.kind.value if spec else None,
                "owner": spec.owner if spec else None,
                "license": spec.license if spec else None,
                "risk_class": ev.risk_class(name),
                "intended_use": spec.intended_use if spec else None,
                "workloads": sorted(serving.get(name, [])),
                "versions": versions.get(name, []),
            }
        )
    return {"systems": systems, "entries": entries}


# Markdown


def md_cell(value: Any) -> str:
    """One table cell: ``-`` for nothing, lists joined, pipes and newlines escaped."""
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, list):
        return "<br>".join(md_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {md_cell(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table; a line saying so when there are no rows."""
    body = [f"| {' | '.join(md_cell(c) for c in row)} |" for row in rows]
    if not body:
        return ["_None recorded._", ""]
    return [
        f"| {' | '.join(headers)} |",
        f"|{'|'.join('---' for _ in headers)}|",
        *body,
        "",
    ]


def md_header(doc: dict[str, Any], title: str) -> list[str]:
    """The title and the as-of block every rendering starts with."""
    as_of = doc["as_of"]
    return [
        f"# {title}",
        "",
        f"- As of ledger event {as_of['ledger_seq']} at {as_of['time']}",
        f"- Ledger head `{as_of['ledger_head']}`",
        f"- Catalog digest `{doc['catalog_digest']}`",
        f"- Generated by {doc['generated_by']}",
        "",
    ]


def write_document(out_dir: Path, fmt: str, doc: dict[str, Any], markdown: str) -> list[Path]:
    """Write ``<fmt>.json`` and ``<fmt>.md`` into ``out_dir`` (each replaced atomically, so
    a reader never sees half a file); returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in (
        ("json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n"),
        ("md", markdown),
    ):
        path = out_dir / f"{fmt}.{suffix}"
        write_atomically(path, text)
        paths.append(path)
    return paths
