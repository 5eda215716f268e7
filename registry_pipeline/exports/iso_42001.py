"""ISO/IEC 42001:2023 export: the AI system inventory and lifecycle evidence mapped to the
Annex A controls the registry can evidence.

A.4 resources for AI systems (A.4.2, A.4.3, A.4.4), A.6 AI system life cycle (A.6.2.3,
A.6.2.4, A.6.2.5, A.6.2.6, A.6.2.8), A.7 data for AI systems (A.7.2, A.7.5) and A.8
information for interested parties (A.8.2). Every row points at registry evidence:
``entry@version`` with its digest, a request id, or a ledger seq. Controls of those groups
the registry holds nothing for are listed under ``not_evidenced``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.exports.evidence import (
    TOOLING_KINDS,
    Evidence,
    header,
    inventory,
    md_header,
    md_table,
    ref,
    write_document,
)
from registry_pipeline.store.snapshot import Row, Snapshot

FORMAT = "iso-42001"
TITLE = "ISO/IEC 42001:2023: AI system inventory and Annex A lifecycle evidence"

NOTES = [
    "An AI system is a workload of the catalog; the inventory also lists every entry "
    "(models, datasets, prompts, indexes, eval suites, stacks) and the lifecycle stage of "
    "each of its versions.",
    "Rows point at registry evidence: ref (entry@version) and digest, request_id, ledger_seq. "
    "The ledger is hash-chained: `registry audit verify` recomputes it.",
]

NOT_EVIDENCED = [
    {
        "control": "A.4.5",
        "title": "System and computing resources",
        "why": "the registry does not record hardware or compute",
    },
    {
        "control": "A.4.6",
        "title": "Human resources",
        "why": "owners, approvers and admins are recorded (inventory, policy), competences not",
    },
    {
        "control": "A.7.3",
        "title": "Acquisition of data",
        "why": "how data was obtained is not recorded beyond who registered it from where "
        "(see A.7.5)",
    },
    {
        "control": "A.7.4",
        "title": "Quality of data for AI systems",
        "why": "no data-quality measurements are held",
    },
    {
        "control": "A.7.6",
        "title": "Data preparation",
        "why": "preparation steps are not recorded",
    },
    {
        "control": "A.8.3",
        "title": "External reporting",
        "why": "reporting channels are not held",
    },
    {
        "control": "A.8.4",
        "title": "Communication of incidents",
        "why": "incidents are not held",
    },
    {
        "control": "A.8.5",
        "title": "Information for interested parties",
        "why": "reporting obligations to interested parties are not held",
    },
]


def build(snap: Snapshot) -> dict[str, Any]:
    """The ISO/IEC 42001 document of ``snap``: inventory, Annex A evidence, gaps."""
    ev = Evidence(snap)
    return {
        **header(snap, FORMAT, __name__),
        "standard": "ISO/IEC 42001:2023, Annex A (reference control objectives and controls)",
        "notes": NOTES,
        "inventory": inventory(ev),
        "controls": _controls(ev),
        "not_evidenced": NOT_EVIDENCED,
    }


def write(snap: Snapshot, out_dir: Path) -> list[Path]:
    """Write ``iso-42001.json`` and ``iso-42001.md`` into ``out_dir``; returns the paths."""
    doc = build(snap)
    return write_document(out_dir, FORMAT, doc, render(doc))


def _control(control: str, group: str, title: str, evidence: list[Row]) -> dict[str, Any]:
    return {"control": control, "group": group, "title": title, "evidence": evidence}


def _controls(ev: Evidence) -> list[dict[str, Any]]:
    snap = ev.snap
    keys = [(v["entry"], v["version"]) for v in snap.versions]
    datasets = [k for k in keys if ev.kind(k[0]) is EntryKind.DATASET]
    serving: dict[str, list[str]] = defaultdict(list)
    for w in snap.catalog.workloads.values():
        serving[w.stack].append(w.name)
    a4 = "A.4 Resources for AI systems"
    a6 = "A.6 AI system life cycle"
    a7 = "A.7 Data for AI systems"
    a8 = "A.8 Information for interested parties of AI systems"
    return [
        _control("A.4.2", a4, "Resource documentation", _resources(ev, keys, serving)),
        _control(
            "A.4.3",
            a4,
            "Data resources",
            [{**ev.version_row(*k), "used_by": _consumers(ev, *k)} for k in datasets],
        ),
        _control(
            "A.4.4",
            a4,
            "Tooling resources",
            [ev.version_row(*k) for k in keys if ev.kind(k[0]) in TOOLING_KINDS],
        ),
        _control(
            "A.6.2.3",
            a6,
            "Documentation of AI system design and development",
            [
                {
                    **ev.version_row(*k),
                    "built_from": sorted(
                        ref(e["upstream_entry"], e["upstream_version"]) for e in ev.upstream(*k)
                    ),
                }
                for k in keys
                if ev.upstream(*k)
            ],
        ),
        _control("A.6.2.4", a6, "AI system verification and validation", _validation(ev, keys)),
        _control("A.6.2.5", a6, "AI system deployment", _deployments(ev)),
        _control("A.6.2.6", a6, "AI system operation and monitoring", _operation(ev)),
        _control(
            "A.6.2.8",
            a6,
            "AI system recording of event logs",
            [
                {
                    **snap.as_of,
                    "note": "every registration, eval, card, approval and stage change is an "
                    "event of the hash-chained ledger up to this head",
                }
            ],
        ),
        _control(
            "A.7.2",
            a7,
            "Data for development and enhancement of AI system",
            [
                {
                    "ref": ref(e["entry"], e["version"]),
                    "digest": snap.version(e["entry"], e["version"])["digest"],
                    "dataset": ref(*k),
                    "dataset_digest": snap.version(*k)["digest"],
                    "relation": e["relation"],
                    "ledger_seq": ev.registered_seq(e["entry"], e["version"]),
                }
                for k in datasets
                for e in ev.downstream(*k)
            ],
        ),
        _control("A.7.5", a7, "Data provenance", _provenance(ev, datasets, serving)),
        _control(
            "A.8.2",
            a8,
            "System documentation and information for users",
            _information(ev),
        ),
    ]


def _consumers(ev: Evidence, entry: str, version: int) -> list[str]:
    return sorted(ref(d["entry"], d["version"]) for d in ev.downstream(entry, version))


def _resources(
    ev: Evidence, keys: list[tuple[str, int]], serving: dict[str, list[str]]
) -> list[Row]:
    rows = []
    for entry, number in keys:
        if ev.kind(entry) is not EntryKind.STACK:
            continue
        stack = ev.snap.version(entry, number)
        for e in ev.upstream(entry, number):
            part = ev.version_row(e["upstream_entry"], e["upstream_version"])
            rows.append(
                {
                    "workloads": sorted(serving.get(entry, [])),
                    "stack": ref(entry, number),
                    "stack_stage": stack["stage"],
                    "ref": part["ref"],
                    "kind": part["kind"],
                    "digest": part["digest"],
                    "license": part["license"],
                    "ledger_seq": part["ledger_seq"],
                }
            )
    return rows


def _validation(ev: Evidence, keys: list[tuple[str, int]]) -> list[Row]:
    rows: list[Row] = [{"type": "eval", **r} for k in keys for r in ev.evals(*k)]
    requests = {r["id"]: r for r in ev.snap.requests}
    for g in ev.snap.gates:
        req = requests[g["request_id"]]
        rows.append(
            {
                "type": "gate",
                "ref": ref(req["entry"], req["version"]),
                "digest": req["digest"],
                "request_id": g["request_id"],
                "target": req["target"],
                "gate": g["name"],
                "passed": g["passed"],
                "detail": g["detail"],
                "evaluated_at": g["evaluated_at"],
                "ledger_seq": g["ledger_seq"],
            }
        )
    return rows


def _deployments(ev: Evidence) -> list[Row]:
    applied = {
        s["request_id"]: s["ledger_seq"]
        for s in ev.snap.stages
        if s["cause"] == "promotion" and s["request_id"] is not None
    }
    rows = []
    for r in ev.snap.requests:
        gates = ev.gates(r["id"])
        rows.append(
            {
                "request_id": r["id"],
                "ref": ref(r["entry"], r["version"]),
                "digest": r["digest"],
                "target": r["target"],
                "requester": r["requester"],
                "reason": r["reason"],
                "status": r["status"],
                "created_at": r["created_at"],
                "decided_at": r["decided_at"],
                "approvals": [
                    {
                        "approver": a["approver"],
                        "decision": a["decision"],
                        "signed": a["signed"],
                        "created_at": a["created_at"],
                    }
                    for a in ev.approvals(r["id"])
                ],
                "gates_passed": all(g["passed"] for g in gates) if gates else None,
                "ledger_seq": applied.get(r["id"]),
            }
        )
    return rows


def _operation(ev: Evidence) -> list[Row]:
    rows = []
    for s in ev.snap.stages:
        if s["stage"] == "production" and s["effective_to"] is None:
            rows.append({"type": "in_production", **ev.change_row(s)})
        elif s["cause"] == "rollback":
            rows.append({"type": "rollback", **ev.change_row(s)})
    return rows


def _provenance(
    ev: Evidence, datasets: list[tuple[str, int]], serving: dict[str, list[str]]
) -> list[Row]:
    rows = []
    for entry, number in datasets:
        reaches = ev.reaches(entry, number)
        stacks = {r.split("@", 1)[0] for r in reaches}
        v = ev.snap.version(entry, number)
        rows.append(
            {
                **ev.version_row(entry, number),
                "source": v["source"],
                "reaches": reaches,
                "workloads": sorted(w for s in stacks for w in serving.get(s, [])),
            }
        )
    return rows


def _information(ev: Evidence) -> list[Row]:
    rows: list[Row] = []
    for (entry, number), card in sorted(ev.snap.cards.items()):
        rows.append(
            {
                "type": "model_card",
                "ref": ref(entry, number),
                "digest": ev.snap.version(entry, number)["digest"],
                "fields": card["fields"],
                "set_by": card["set_by"],
                "set_at": card["set_at"],
            }
        )
    for name, spec in sorted(ev.catalog.entries.items()):
        if spec.intended_use:
            rows.append(
                {
                    "type": "intended_use",
                    "entry": name,
                    "intended_use": spec.intended_use,
                    "risk_class": ev.risk_class(name),
                    "source": f"registry:catalog.entries.{name}.intended_use",
                }
            )
    return rows


# Markdown: the columns shown per control (the JSON has every field).
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "A.4.2": [
        ("System", "workloads"),
        ("Stack", "stack"),
        ("Stack stage", "stack_stage"),
        ("Resource", "ref"),
        ("Kind", "kind"),
        ("Digest", "digest"),
        ("Seq", "ledger_seq"),
    ],
    "A.4.3": [
        ("Dataset", "ref"),
        ("Digest", "digest"),
        ("License", "license"),
        ("Owner", "owner"),
        ("Used by", "used_by"),
        ("Seq", "ledger_seq"),
    ],
    "A.4.4": [
        ("Version", "ref"),
        ("Kind", "kind"),
        ("Digest", "digest"),
        ("License", "license"),
        ("Stage", "stage"),
        ("Seq", "ledger_seq"),
    ],
    "A.6.2.3": [
        ("Version", "ref"),
        ("Kind", "kind"),
        ("Digest", "digest"),
        ("Built from", "built_from"),
        ("Created by", "created_by"),
        ("Seq", "ledger_seq"),
    ],
    "A.6.2.4": [
        ("Type", "type"),
        ("Version", "ref"),
        ("Suite / gate", "suite"),
        ("Metric / request", "metric"),
        ("Value / passed", "value"),
        ("When", "produced_at"),
    ],
    "A.6.2.5": [
        ("Request", "request_id"),
        ("Version", "ref"),
        ("Target", "target"),
        ("Requester", "requester"),
        ("Status", "status"),
        ("Approvals", "approvals"),
        ("Gates passed", "gates_passed"),
        ("Seq", "ledger_seq"),
    ],
    "A.6.2.6": [
        ("Type", "type"),
        ("Version", "ref"),
        ("Stage", "stage"),
        ("Since", "effective_from"),
        ("Actor", "actor"),
        ("Reason", "reason"),
        ("Approved by", "approved_by"),
        ("Seq", "ledger_seq"),
    ],
    "A.6.2.8": [("Ledger seq", "ledger_seq"), ("Head", "ledger_head"), ("Time", "time")],
    "A.7.2": [
        ("Version", "ref"),
        ("Digest", "digest"),
        ("Dataset", "dataset"),
        ("Dataset digest", "dataset_digest"),
        ("Seq", "ledger_seq"),
    ],
    "A.7.5": [
        ("Dataset", "ref"),
        ("Digest", "digest"),
        ("Registered by", "created_by"),
        ("At", "created_at"),
        ("Reaches", "reaches"),
        ("Systems", "workloads"),
        ("Seq", "ledger_seq"),
    ],
    "A.8.2": [
        ("Type", "type"),
        ("Version / entry", "ref"),
        ("Content", "fields"),
        ("Set by", "set_by"),
    ],
}


def _cells(control: str, row: Row) -> list[Any]:
    if control == "A.6.2.4" and row["type"] == "gate":
        row = {
            **row,
            "suite": row["gate"],
            "metric": f"request {row['request_id']}",
            "value": row["passed"],
            "produced_at": row["evaluated_at"],
        }
    if control == "A.8.2" and row["type"] == "intended_use":
        row = {**row, "ref": row["entry"], "fields": row["intended_use"], "set_by": "catalog"}
    return [row.get(key) for _, key in COLUMNS[control]]


def render(doc: dict[str, Any]) -> str:
    """The Markdown rendering of a document from :func:`build`."""
    lines = md_header(doc, TITLE)
    lines += [f"Standard: {doc['standard']}", ""]
    lines += [f"- {n}" for n in doc["notes"]] + [""]
    inv = doc["inventory"]
    lines += ["## AI system inventory", ""]
    lines += md_table(
        ["System", "Stack", "Owner", "Risk class", "Targets", "In production", "Digest"],
        (
            [
                s["workload"],
                s["stack"],
                s["owner"],
                s["risk_class"],
                s["targets"],
                s["production"]["ref"] if s["production"] else "none",
                s["production"]["digest"] if s["production"] else None,
            ]
            for s in inv["systems"]
        ),
    )
    lines += ["## Entries and the stage of each version", ""]
    lines += md_table(
        ["Entry", "Kind", "Owner", "License", "Risk class", "Versions (stage)"],
        (
            [
                e["entry"],
                e["kind"],
                e["owner"],
                e["license"],
                e["risk_class"],
                [f"{v['ref']} ({v['stage']})" for v in e["versions"]],
            ]
            for e in inv["entries"]
        ),
    )
    lines += ["## Annex A evidence", ""]
    for c in doc["controls"]:
        lines += [f"### {c['control']} {c['title']} ({c['group']})", ""]
        lines += md_table(
            [h for h, _ in COLUMNS[c["control"]]],
            (_cells(c["control"], r) for r in c["evidence"]),
        )
    lines += ["## Controls the registry does not evidence", ""]
    lines += md_table(
        ["Control", "Title", "Why"],
        ([n["control"], n["title"], n["why"]] for n in doc["not_evidenced"]),
    )
    return "\n".join(lines).rstrip() + "\n"
