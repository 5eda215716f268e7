"""NIST AI RMF 1.0 (NIST AI 100-1) export.

GOVERN 1.6: the inventory of AI systems (every workload) and of every entry. Per system, the
MAP evidence the registry holds: MAP 1.1 intended purpose and context, MAP 2.1 tasks and
methods (component kinds, base models), MAP 2.2 knowledge limits (card limitations),
MAP 2.3 with MEASURE 2.1/2.3 (eval results against the production thresholds), MAP 3.5 human
oversight (approvals) and MAP 4.1 third-party components (pre-trained models, datasets,
licenses). With completeness (required fields filled, per system and overall) and freshness
(age in days of the production stack's newest eval result and of its approval, as of the
snapshot's ledger time).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from registry_pipeline.core import review
from registry_pipeline.core.catalog import Workload
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage
from registry_pipeline.core.times import parse_instant
from registry_pipeline.exports.evidence import (
    NOT_HELD,
    PRETRAINED_KINDS,
    Evidence,
    Production,
    header,
    inventory,
    md_cell,
    md_header,
    md_table,
    ref,
    write_document,
)
from registry_pipeline.store.snapshot import Row, Snapshot

FORMAT = "nist-ai-rmf"
TITLE = "NIST AI RMF 1.0: AI system inventory (GOVERN 1.6) and MAP evidence"

NOTES = [
    "An AI system is a workload of the catalog; per-version evidence is taken from the stack "
    "version holding production. Without one, only what the catalog declares is shown.",
    "completeness = required fields filled / required fields, per system; overall it is the "
    "sum of filled over the sum of required across systems.",
    "freshness = age in days, as of the snapshot's ledger time, of the newest eval result of "
    "the production stack version and of the newest approval of its production request.",
    "Third-party components (MAP 4.1) are recognised by kind: base_model, embedding_model and "
    "provider_model versions, and datasets; the registry does not record who supplied them.",
]

TITLES = {
    "MAP 1.1": "Intended purpose, context of use and prospective deployment settings",
    "MAP 2.1": "Tasks and the methods implementing them",
    "MAP 2.2": "Knowledge limits and human use of outputs",
    "MAP 2.3": "Scientific integrity and TEVV (with MEASURE 2.1 and MEASURE 2.3)",
    "MAP 3.5": "Human oversight processes",
    "MAP 4.1": "Technology and legal risks of components, incl. third-party data and software",
}


def build(snap: Snapshot) -> dict[str, Any]:
    """The NIST AI RMF document of ``snap``: inventory, MAP evidence, completeness and
    freshness per system and overall."""
    ev = Evidence(snap)
    systems = [_system(ev, snap.catalog.workloads[n]) for n in sorted(snap.catalog.workloads)]
    filled = sum(s["completeness"]["filled"] for s in systems)
    required = sum(s["completeness"]["required"] for s in systems)
    evals = [a for s in systems if (a := s["freshness"]["newest_eval_age_days"]) is not None]
    approvals = [a for s in systems if (a := s["freshness"]["approval_age_days"]) is not None]
    return {
        **header(snap, FORMAT, __name__),
        "framework": "NIST AI 100-1, Artificial Intelligence Risk Management Framework 1.0",
        "notes": NOTES,
        "completeness": {
            "filled": filled,
            "required": required,
            "fraction": round(filled / required, 4) if required else None,
            "by_system": {s["workload"]: s["completeness"]["fraction"] for s in systems},
        },
        "freshness": {
            "as_of_time": snap.head_time,
            "stalest_eval_age_days": max(evals) if evals else None,
            "stalest_approval_age_days": max(approvals) if approvals else None,
        },
        "govern_1_6": {
            "subcategory": "GOVERN 1.6",
            "title": "Inventory of AI systems",
            **inventory(ev),
        },
        "systems": systems,
    }


def write(snap: Snapshot, out_dir: Path) -> list[Path]:
    """Write ``nist-ai-rmf.json`` and ``nist-ai-rmf.md`` into ``out_dir``; returns the
    paths."""
    doc = build(snap)
    return write_document(out_dir, FORMAT, doc, render(doc))


def _field(name: str, value: Any, source: str, *, required: bool, filled: bool) -> Row:
    return {
        "field": name,
        "value": value,
        "source": source,
        "required": required,
        "filled": filled,
    }


def _system(ev: Evidence, w: Workload) -> dict[str, Any]:
    prod = ev.production(w.name)
    risk = ev.risk_class(w.stack)
    groups = {
        "MAP 1.1": _context(ev, w, prod, risk),
        "MAP 2.1": _methods(ev, w, prod),
        "MAP 2.2": _limits(ev, prod),
        "MAP 2.3": _tevv(ev, w, prod, risk),
        "MAP 3.5": _oversight(ev, prod, risk),
        "MAP 4.1": _third_party(ev, w, prod),
    }
    required = [(k, f) for k, fs in groups.items() for f in fs if f["required"]]
    filled = sum(1 for _, f in required if f["filled"])
    return {
        "workload": w.name,
        "stack": w.stack,
        "risk_class": risk,
        "production": prod.summary() if prod else None,
        "map": [
            {"subcategory": k, "title": TITLES[k], "fields": fields} for k, fields in groups.items()
        ],
        "completeness": {
            "filled": filled,
            "required": len(required),
            "fraction": round(filled / len(required), 4),
            "missing": [f"{k} {f['field']}" for k, f in required if not f["filled"]],
        },
        "freshness": _freshness(ev, prod, risk),
    }


def _context(ev: Evidence, w: Workload, prod: Production | None, risk: str | None) -> list[Row]:
    spec = ev.entry(w.stack)
    purpose, source = None, NOT_HELD
    if spec and spec.intended_use:
        purpose, source = spec.intended_use, f"registry:catalog.entries.{w.stack}.intended_use"
    elif prod is not None:
        card = ev.snap.cards.get((prod.stack["entry"], prod.stack["version"]))
        if card and card["fields"].get("intended_use"):
            purpose = card["fields"]["intended_use"]
            source = f"registry:cards.{prod.ref}.fields.intended_use"
    targets = [{"target": t.name, "manifest": t.manifest} for t in w.targets]
    return [
        _field("intended_purpose", purpose, source, required=True, filled=bool(purpose)),
        _field(
            "deployment_settings",
            targets,
            f"registry:catalog.workloads.{w.name}.targets",
            required=True,
            filled=bool(targets),
        ),
        _field(
            "risk_class",
            risk,
            f"registry:catalog.entries.{w.stack}.risk_class" if risk else NOT_HELD,
            required=True,
            filled=risk is not None,
        ),
        _field(
            "description",
            spec.description if spec else None,
            f"registry:catalog.entries.{w.stack}.description",
            required=False,
            filled=bool(spec and spec.description),
        ),
    ]


def _composition(ev: Evidence, w: Workload, prod: Production | None) -> tuple[list[Row], str]:
    """The versions (production) or entries (declared) the system is built from,
    transitively, and where that came from."""
    if prod is not None:
        entry, number = prod.stack["entry"], prod.stack["version"]
        rows = [ev.version_row(e, n) for e, n in ev.closure(entry, number)]
        return rows, f"registry:lineage.{prod.ref} (transitive)"
    rows = [ev.declared_row(e) for e in ev.declared_closure(w.stack)]
    return rows, f"registry:catalog.entries.{w.stack} (declared, transitive; none in production)"


def _methods(ev: Evidence, w: Workload, prod: Production | None) -> list[Row]:
    if prod is not None:
        components = [
            {
                "ref": ref(c["entry"], c["version"]),
                "kind": ev.kind(c["entry"]),
                "digest": c["digest"],
            }
            for c in prod.components
        ]
        source = f"registry:lineage.{prod.ref} (pins)"
    else:
        spec = ev.entry(w.stack)
        components = [{"entry": c, "kind": ev.kind(c)} for c in (spec.components if spec else ())]
        source = f"registry:catalog.entries.{w.stack}.components (declared; none in production)"
    for c in components:
        c["kind"] = c["kind"].value if c["kind"] else None
    rows, closure_source = _composition(ev, w, prod)
    base = [_named(r) for r in rows if r["kind"] in {k.value for k in PRETRAINED_KINDS}]
    return [
        _field("components", components, source, required=True, filled=bool(components)),
        _field(
            "methods",
            sorted({c["kind"] for c in components if c["kind"]}),
            source,
            required=False,
            filled=bool(components),
        ),
        _field("base_models", base, closure_source, required=False, filled=bool(base)),
    ]


def _named(row: Row) -> Row:
    name = {"ref": row["ref"], "digest": row["digest"]} if "ref" in row else {"entry": row["entry"]}
    return {**name, "kind": row["kind"], "license": row["license"], "owner": row["owner"]}


def _limits(ev: Evidence, prod: Production | None) -> list[Row]:
    if prod is None:
        return [
            _field(
                "knowledge_limits",
                None,
                "registry:cards (no stack version in production)",
                required=True,
                filled=False,
            )
        ]
    card = ev.snap.cards.get((prod.stack["entry"], prod.stack["version"]))
    limits = card["fields"].get("limitations") if card else None
    return [
        _field(
            "knowledge_limits",
            limits,
            f"registry:cards.{prod.ref}.fields.limitations",
            required=True,
            filled=bool(limits),
        )
    ]


def _tevv(ev: Evidence, w: Workload, prod: Production | None, risk: str | None) -> list[Row]:
    thresholds = ev.production_thresholds(w.stack, risk)
    results = ev.evals(prod.stack["entry"], prod.stack["version"]) if prod else []
    return [
        _field(
            "eval_results",
            results,
            f"registry:evals.{prod.ref}"
            if prod
            else "registry:evals (no stack version in production)",
            required=True,
            filled=any(r["current"] for r in results),
        ),
        _field(
            "production_thresholds",
            thresholds,
            "registry:catalog.policy.stages.production.evals",
            required=False,
            filled=bool(thresholds),
        ),
    ]


def _oversight(ev: Evidence, prod: Production | None, risk: str | None) -> list[Row]:
    rule = ev.catalog.policy.rule_for(Stage.PRODUCTION, risk)
    policy = {
        "approvals_required": rule.approvals,
        "signed_approvals": rule.signed_approvals,
        "approvers": sorted(ev.catalog.policy.approvers | ev.catalog.policy.admins),
    }
    request_id = prod.holder["request_id"] if prod else None
    approvals = [
        {
            "request_id": a["request_id"],
            "approver": a["approver"],
            "decision": a["decision"],
            "signed": a["signed"],
            "requester": a["requester"],
            "created_at": a["created_at"],
        }
        for a in ev.approvals(request_id)
    ]
    return [
        _field(
            "production_approvals",
            approvals,
            f"registry:approvals.request {request_id} ({prod.ref})"
            if prod
            else "registry:approvals (no stack version in production)",
            required=True,
            filled=any(a["decision"] == "approve" for a in approvals),
        ),
        _field(
            "oversight_policy",
            policy,
            "registry:catalog.policy (production rule for the risk class)",
            required=False,
            filled=True,
        ),
    ]


def _third_party(ev: Evidence, w: Workload, prod: Production | None) -> list[Row]:
    rows, source = _composition(ev, w, prod)
    outside = {k.value for k in PRETRAINED_KINDS} | {EntryKind.DATASET.value}
    parties = [_named(r) for r in rows if r["kind"] in outside]
    known = prod is not None or bool(rows)
    return [
        _field(
            "third_party_components",
            parties,
            source,
            required=True,
            filled=known and all(p["license"] for p in parties),
        )
    ]


def _freshness(ev: Evidence, prod: Production | None, risk: str | None) -> dict[str, Any]:
    """How old the production stack's newest eval result and its newest approval are at the
    snapshot's ledger time, and whether that eval result is within the production rule's
    ``max_eval_age_days``, by the rule of :mod:`registry_pipeline.core.review`."""
    rule = ev.catalog.policy.rule_for(Stage.PRODUCTION, risk)
    out: dict[str, Any] = {
        "as_of_time": ev.snap.head_time,
        "newest_eval": None,
        "newest_eval_age_days": None,
        "approval": None,
        "approval_age_days": None,
        "max_eval_age_days": rule.max_eval_age_days,
        "eval_within_policy": None,
    }
    if prod is None:
        return out
    results = ev.evals(prod.stack["entry"], prod.stack["version"])
    if results:
        newest = max(results, key=lambda r: (r["produced_at"], r["recorded_at"], r["eval_id"]))
        age = ev.now - parse_instant(newest["produced_at"])
        out["newest_eval"] = {
            k: newest[k] for k in ("ref", "suite", "eval_id", "produced_at", "recorded_by")
        }
        out["newest_eval_age_days"] = _days(age)
        if rule.max_eval_age_days is not None:
            out["eval_within_policy"] = not review.eval_expired(rule, age)
    approved = [a for a in ev.approvals(prod.holder["request_id"]) if a["decision"] == "approve"]
    if approved:
        last = max(approved, key=lambda a: (a["created_at"], a["id"]))
        out["approval"] = {
            "request_id": last["request_id"],
            "approver": last["approver"],
            "created_at": last["created_at"],
        }
        age = review.approval_age(parse_instant(last["created_at"]), ev.now)
        out["approval_age_days"] = _days(age)
    return out


def _days(age: timedelta) -> float:
    """An age in days as the document gives it: to five decimals (about a second)."""
    return round(review.age_in_days(age), 5)


def _value(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return md_cell([_item(v) for v in value])
    return md_cell(value)


def _item(v: Row) -> str:
    """One listed value, briefly: a threshold, an eval result, or a named thing with the
    facts that matter about it."""
    if "op" in v:
        return f"{v['suite']}: {v['metric']} {v['op']} {v['value']:g}"
    if "suite" in v:
        return f"{v['suite']} {v['metric']} = {v['value']} ({v['produced_at']})"
    name = v.get("ref") or v.get("entry") or v.get("target") or v.get("approver")
    extra = [str(v[k]) for k in ("kind", "license", "manifest", "decision") if v.get(k)]
    return f"{name}" + (f" ({', '.join(extra)})" if extra else "")


def render(doc: dict[str, Any]) -> str:
    """The Markdown rendering of a document from :func:`build`."""
    lines = md_header(doc, TITLE)
    lines += [f"Framework: {doc['framework']}", ""]
    lines += [f"- {n}" for n in doc["notes"]] + [""]
    c, f = doc["completeness"], doc["freshness"]
    lines += [
        f"Overall completeness: {c['filled']} of {c['required']} required fields "
        f"({md_cell(c['fraction'])}). Stalest production eval: "
        f"{md_cell(f['stalest_eval_age_days'])} days; stalest production approval: "
        f"{md_cell(f['stalest_approval_age_days'])} days.",
        "",
        "## GOVERN 1.6: inventory of AI systems",
        "",
    ]
    gov = doc["govern_1_6"]
    lines += md_table(
        ["System", "Stack", "Owner", "Risk class", "In production", "Digest"],
        (
            [
                s["workload"],
                s["stack"],
                s["owner"],
                s["risk_class"],
                s["production"]["ref"] if s["production"] else "none",
                s["production"]["digest"] if s["production"] else None,
            ]
            for s in gov["systems"]
        ),
    )
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
            for e in gov["entries"]
        ),
    )
    for s in doc["systems"]:
        sc, sf = s["completeness"], s["freshness"]
        lines += [
            f"## AI system: {s['workload']}",
            "",
            f"- Stack `{s['stack']}`, risk class {md_cell(s['risk_class'])}, in production: "
            + (f"`{s['production']['ref']}`" if s["production"] else "none"),
            f"- Completeness: {sc['filled']} of {sc['required']} ({sc['fraction']}); missing: "
            f"{', '.join(sc['missing']) or 'none'}",
            f"- Freshness: newest eval {md_cell(sf['newest_eval_age_days'])} days old "
            f"(policy maximum {md_cell(sf['max_eval_age_days'])}); approval "
            f"{md_cell(sf['approval_age_days'])} days old",
            "",
        ]
        lines += md_table(
            ["Subcategory", "Field", "Required", "Filled", "Value", "Source"],
            (
                [
                    g["subcategory"],
                    x["field"],
                    x["required"],
                    x["filled"],
                    _value(x["value"]),
                    x["source"],
                ]
                for g in s["map"]
                for x in g["fields"]
            ),
        )
    return "\n".join(lines).rstrip() + "\n"
