"""EU AI Act (Regulation (EU) 2024/1689) export.

Per AI system (a workload of the catalog): the registration information of Annex VIII
Section A, points 1 to 13, filled where the registry holds the data and ``"to be provided"``
elsewhere, each with the ``source`` it came from; and the items of the Annex IV technical
documentation the registry can evidence (2(a), 2(d), 2(g), 3, 4 and 6), each row pointing at
``entry@version``, digest and ledger seq.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.core.catalog import Workload
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage
from registry_pipeline.exports.evidence import (
    NOT_HELD,
    PRETRAINED_KINDS,
    TO_BE_PROVIDED,
    Evidence,
    Production,
    header,
    md_cell,
    md_header,
    md_table,
    ref,
    write_document,
)
from registry_pipeline.store.snapshot import Row, Snapshot

FORMAT = "eu-ai-act"
TITLE = "EU AI Act: registration information and technical documentation evidence"

NOTES = [
    "One AI system per workload; its trade name is the workload name and it is identified "
    "by the stack version holding production.",
    "Fields the registry cannot know read exactly 'to be provided' with source "
    f"'{NOT_HELD}': the provider supplies them before registration.",
    "The risk class is the catalog's declaration (a stack takes the highest class of itself "
    "and its components), not a legal classification.",
    "High-risk systems (Article 6(2), Annex III) are registered in the EU database before "
    "being placed on the market or put into service (Article 49(1)) with the information of "
    "Annex VIII Section A, and need the technical documentation of Article 11 and Annex IV.",
    "Limited-risk systems are not registered: they carry transparency obligations only "
    "(Article 50, e.g. telling people they are interacting with an AI system). Their Annex "
    "VIII and Annex IV sections below are kept as a record, not as a filing.",
    "Pre-trained models are recognised by kind (base_model, embedding_model, "
    "provider_model); the registry does not record who supplied them.",
]

REGISTRATION = {
    "high": {
        "required": True,
        "basis": "Article 49(1) and Annex VIII Section A: a high-risk AI system is "
        "registered in the EU database before it is placed on the market or put into service",
        "obligations": "high-risk requirements of Chapter III Section 2 (Articles 8 to 15); "
        "technical documentation per Article 11 and Annex IV",
    },
    "limited": {
        "required": False,
        "basis": "not high-risk by its declared risk class: no Article 49 registration",
        "obligations": "transparency obligations only (Article 50)",
    },
    "minimal": {
        "required": False,
        "basis": "not high-risk by its declared risk class: no Article 49 registration",
        "obligations": "no risk-specific obligations",
    },
}


def build(snap: Snapshot) -> dict[str, Any]:
    """The EU AI Act document of ``snap``: one entry per AI system (workload)."""
    ev = Evidence(snap)
    return {
        **header(snap, FORMAT, __name__),
        "regulation": "Regulation (EU) 2024/1689 (Artificial Intelligence Act)",
        "notes": NOTES,
        "systems": [_system(ev, snap.catalog.workloads[n]) for n in sorted(snap.catalog.workloads)],
    }


def write(snap: Snapshot, out_dir: Path) -> list[Path]:
    """Write ``eu-ai-act.json`` and ``eu-ai-act.md`` into ``out_dir``; returns the paths."""
    doc = build(snap)
    return write_document(out_dir, FORMAT, doc, render(doc))


def _system(ev: Evidence, w: Workload) -> dict[str, Any]:
    prod = ev.production(w.name)
    spec = ev.entry(w.stack)
    risk = ev.risk_class(w.stack)
    registration = REGISTRATION.get(risk or "") or {
        "required": None,
        "basis": "risk class not declared in the catalog",
        "obligations": TO_BE_PROVIDED,
    }
    return {
        "workload": w.name,
        "stack": w.stack,
        "owner": {
            "value": spec.owner if spec else TO_BE_PROVIDED,
            "source": f"registry:catalog.entries.{w.stack}.owner" if spec else NOT_HELD,
            "note": "internal accountable owner; not the provider of Annex VIII point 1",
        },
        "risk_class": {
            "value": risk or TO_BE_PROVIDED,
            "source": f"registry:catalog.entries.{w.stack}.risk_class "
            "(highest of the stack and its components)"
            if risk
            else NOT_HELD,
        },
        "registration": registration,
        "production": prod.summary() if prod else None,
        "annex_viii_section_a": _annex_viii(ev, w, prod),
        "annex_iv": _annex_iv(ev, w, prod, risk),
    }


def _field(item: int, name: str, label: str, value: Any, source: str, **extra: Any) -> Row:
    return {"item": item, "field": name, "label": label, "value": value, "source": source, **extra}


def _missing(item: int, name: str, label: str, **extra: Any) -> Row:
    return _field(item, name, label, TO_BE_PROVIDED, NOT_HELD, **extra)


def _annex_viii(ev: Evidence, w: Workload, prod: Production | None) -> list[Row]:
    targets = ", ".join(t.name for t in w.targets) or "none"
    return [
        _missing(1, "provider", "Name, address and contact details of the provider"),
        _missing(
            2,
            "submitter",
            "Name, address and contact details of the person submitting on behalf of the "
            "provider, where applicable",
        ),
        _missing(
            3,
            "authorised_representative",
            "Name, address and contact details of the authorised representative, where applicable",
        ),
        _field(
            4,
            "trade_name",
            "AI system trade name",
            w.name,
            f"registry:catalog.workloads.{w.name}",
        ),
        _reference(w, prod),
        _intended_purpose(ev, w, prod),
        _components(ev, w, prod),
        _data(ev, w, prod),
        _operating_logic(ev, w, prod),
        _status(ev, w, prod),
        _missing(
            8,
            "certificate",
            "Type, number and expiry date of the notified body's certificate and the name or "
            "identification number of the notified body, where applicable",
        ),
        _missing(9, "certificate_copy", "Scanned copy of the certificate of point 8"),
        _missing(
            10,
            "member_states",
            "Member States where the AI system is placed on the market, put into service or "
            "made available",
            hint=f"deployment targets on record: {targets} "
            f"(registry:catalog.workloads.{w.name}.targets); a target does not name a "
            "Member State",
        ),
        _missing(11, "declaration_of_conformity", "Copy of the EU declaration of conformity"),
        _missing(
            12,
            "instructions_for_use",
            "Electronic instructions for use (not for Annex III points 1, 6 and 7 in law "
            "enforcement, migration, asylum and border control)",
        ),
        _missing(13, "url", "URL for additional information (optional)"),
    ]


def _reference(w: Workload, prod: Production | None) -> Row:
    label = "Additional unambiguous reference for identification and traceability"
    if prod is None:
        return _field(
            4,
            "reference",
            label,
            {"stack": w.stack, "ref": None, "digest": None},
            f"registry:catalog.workloads.{w.name}.stack (no version in production)",
        )
    return _field(
        4,
        "reference",
        label,
        {"stack": w.stack, "ref": prod.ref, "digest": prod.stack["digest"]},
        f"registry:versions.{prod.ref}.digest (production since "
        f"{prod.holder['effective_from']}, ledger seq {prod.holder['ledger_seq']})",
    )


def _intended_purpose(ev: Evidence, w: Workload, prod: Production | None) -> Row:
    label = "Description of the intended purpose"
    spec = ev.entry(w.stack)
    if spec and spec.intended_use:
        source = f"registry:catalog.entries.{w.stack}.intended_use"
        return _field(5, "intended_purpose", label, spec.intended_use, source)
    if prod is not None:
        card = ev.snap.cards.get((prod.stack["entry"], prod.stack["version"]))
        if card and card["fields"].get("intended_use"):
            source = f"registry:cards.{prod.ref}.fields.intended_use"
            return _field(5, "intended_purpose", label, card["fields"]["intended_use"], source)
    return _missing(5, "intended_purpose", label)


def _components(ev: Evidence, w: Workload, prod: Production | None) -> Row:
    label = "Components and functions supported through the AI system"
    if prod is not None:
        value = [
            {
                "ref": ref(c["entry"], c["version"]),
                "kind": ev.kind(c["entry"]),
                "digest": c["digest"],
                "function": (spec.description if (spec := ev.entry(c["entry"])) else None),
            }
            for c in prod.components
        ]
        source = (
            f"registry:lineage.{prod.ref} (pinned versions); "
            "registry:catalog.entries.<component>.description"
        )
        return _field(5, "components_and_functions", label, value, source)
    spec = ev.entry(w.stack)
    if spec and spec.components:
        value = [
            {
                "entry": c,
                "kind": ev.kind(c),
                "function": (e.description if (e := ev.entry(c)) else None),
            }
            for c in spec.components
        ]
        source = f"registry:catalog.entries.{w.stack}.components (declared; none in production)"
        return _field(5, "components_and_functions", label, value, source)
    return _missing(5, "components_and_functions", label)


def _data(ev: Evidence, w: Workload, prod: Production | None) -> Row:
    label = "Basic and concise description of the information used by the system (data, inputs)"
    note = "datasets the system was built from; runtime inputs are not recorded: describe them"
    if prod is not None:
        stack = prod.stack
        rows = [
            _brief(ev.version_row(e, n))
            for e, n in ev.closure(stack["entry"], stack["version"])
            if ev.kind(e) is EntryKind.DATASET
        ]
        source = f"registry:lineage.{prod.ref} (transitive upstream datasets)"
    else:
        rows = [
            _brief(ev.declared_row(e))
            for e in ev.declared_closure(w.stack)
            if ev.kind(e) is EntryKind.DATASET
        ]
        source = (
            f"registry:catalog.entries.{w.stack} components and upstream (declared, "
            "transitive; none in production)"
        )
    if not rows:
        return _missing(6, "data_and_inputs", label)
    return _field(6, "data_and_inputs", label, rows, source, note=note)


def _brief(row: Row) -> Row:
    name = {"ref": row["ref"], "digest": row["digest"]} if "ref" in row else {"entry": row["entry"]}
    return {**name, "license": row["license"], "description": row["description"]}


def _operating_logic(ev: Evidence, w: Workload, prod: Production | None) -> Row:
    label = "Basic and concise description of the operating logic"
    spec = ev.entry(w.stack)
    intro = f"{spec.description}. " if spec and spec.description else ""
    if prod is not None:
        parts = []
        for c in prod.components:
            built = [
                ref(e["upstream_entry"], e["upstream_version"])
                for e in ev.upstream(c["entry"], c["version"])
            ]
            kind = ev.kind(c["entry"])
            text = f"{ref(c['entry'], c['version'])} ({kind.value if kind else 'undeclared'}"
            parts.append(text + (f", built from {', '.join(sorted(built))})" if built else ")"))
        value = f"{intro}{prod.ref} pins: " + "; ".join(parts) + "."
        source = (
            f"registry:lineage.{prod.ref} (pins and their upstream); "
            f"registry:catalog.entries.{w.stack}.description"
        )
        return _field(6, "operating_logic", label, value, source)
    if spec and spec.components:
        parts = []
        for name in spec.components:
            part = ev.entry(name)
            what = part.kind.value if part else "undeclared"
            made = list(part.upstream) if part else []
            parts.append(f"{name} ({what}" + (f", built from {', '.join(made)})" if made else ")"))
        value = f"{intro}Declared components: " + "; ".join(parts) + "."
        source = f"registry:catalog.entries.{w.stack} (declared; none in production)"
        return _field(6, "operating_logic", label, value, source)
    return _missing(6, "operating_logic", label)


def _status(ev: Evidence, w: Workload, prod: Production | None) -> Row:
    label = "Status (on the market or in service; no longer on the market/in service; recalled)"
    if prod is not None:
        source = (
            f"registry:stage_assignments.{prod.ref}.production (since "
            f"{prod.holder['effective_from']}, ledger seq {prod.holder['ledger_seq']})"
        )
        return _field(7, "status", label, "in service", source)
    past = [s for s in ev.history(w.stack) if s["stage"] == Stage.PRODUCTION.value]
    if past:
        last = past[-1]
        source = (
            f"registry:stage_assignments.{ref(last['entry'], last['version'])}.production "
            f"(ended {last['effective_to']}, ledger seq {last['ledger_seq']})"
        )
        return _field(7, "status", label, "no longer in service", source)
    source = f"registry:stage_assignments.{w.stack} (no version has held production)"
    return _field(7, "status", label, "not placed on the market or put into service", source)


def _annex_iv(
    ev: Evidence, w: Workload, prod: Production | None, risk: str | None
) -> list[dict[str, Any]]:
    none = f"no version of {w.stack} is in production: nothing deployed to evidence"
    items: list[dict[str, Any]] = []
    if prod is None:
        development: list[Row] = []
        datasets: list[Row] = []
        evals: list[Row] = []
        gates: list[Row] = []
        card: list[Row] = []
    else:
        entry, number = prod.stack["entry"], prod.stack["version"]
        chain = [(entry, number), *ev.closure(entry, number)]
        in_chain = set(chain)
        development = _development(ev, chain)
        datasets = [
            {
                **ev.version_row(e, n),
                "used_by": sorted(
                    ref(d["entry"], d["version"])
                    for d in ev.downstream(e, n)
                    if (d["entry"], d["version"]) in in_chain
                ),
            }
            for e, n in chain
            if ev.kind(e) is EntryKind.DATASET
        ]
        evals = [row for e, n in chain for row in ev.evals(e, n)]
        gates = [
            {
                "request_id": g["request_id"],
                "gate": g["name"],
                "passed": g["passed"],
                "detail": g["detail"],
                "evaluated_at": g["evaluated_at"],
                "ledger_seq": g["ledger_seq"],
            }
            for g in ev.gates(prod.holder["request_id"])
        ]
        stored = ev.snap.cards.get((entry, number)) or {"fields": {}}
        card = [
            {
                "ref": prod.ref,
                "digest": prod.stack["digest"],
                "field": k,
                "value": v,
                "set_by": stored["set_by"],
                "set_at": stored["set_at"],
            }
            for k, v in sorted(stored["fields"].items())
        ]
    items.append(
        _item(
            "2(a)",
            "Methods and steps of development, incl. recourse to pre-trained systems or "
            "third-party tools",
            development,
            None if prod else none,
        )
    )
    items.append(
        _item(
            "2(d)",
            "Data requirements: datasheets of the training data sets (provenance, scope)",
            datasets,
            None if prod else none,
        )
    )
    items.append(
        {
            **_item(
                "2(g)",
                "Validation and testing procedures, metrics used, dated test logs",
                evals,
                None if prod else none,
            ),
            "gates": gates,
        }
    )
    items.append(
        _item(
            "3",
            "Capabilities and limitations in performance (model card of the deployed stack)",
            card,
            None if prod else none,
        )
    )
    rule = ev.catalog.policy.rule_for(Stage.PRODUCTION, risk)
    thresholds = ev.production_thresholds(w.stack, risk)
    items.append(
        {
            **_item(
                "4",
                "Appropriateness of the performance metrics: thresholds required for production",
                thresholds,
                None,
            ),
            "max_eval_age_days": rule.max_eval_age_days,
            "approvals_required": rule.approvals,
            "signed_approvals": rule.signed_approvals,
        }
    )
    items.append(
        _item(
            "6",
            "Relevant changes through the lifecycle (stage history with approvers)",
            [_change(ev, s) for s in ev.history(w.stack)],
            None,
        )
    )
    return items


def _item(item: str, title: str, evidence: list[Row], note: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"item": item, "title": title, "evidence": evidence}
    if note:
        out["note"] = note
    return out


def _development(ev: Evidence, chain: list[tuple[str, int]]) -> list[Row]:
    rows = []
    for e, n in chain:
        built = ev.upstream(e, n)
        kind = ev.kind(e)
        pretrained = kind in PRETRAINED_KINDS
        if not built and not pretrained:
            continue
        rows.append(
            {
                **ev.version_row(e, n),
                "pre_trained": pretrained,
                "built_from": sorted(
                    ref(u["upstream_entry"], u["upstream_version"]) for u in built
                ),
                "relation": sorted({u["relation"] for u in built}),
            }
        )
    return rows


def _change(ev: Evidence, s: Row) -> Row:
    return {
        **ev.change_row(s),
        "approvals": [
            {
                "approver": a["approver"],
                "decision": a["decision"],
                "signed": a["signed"],
                "created_at": a["created_at"],
            }
            for a in ev.approvals(s["request_id"])
        ],
    }


def render(doc: dict[str, Any]) -> str:
    """The Markdown rendering of a document from :func:`build`."""
    lines = md_header(doc, TITLE)
    lines += [f"Regulation: {doc['regulation']}", ""]
    lines += [f"- {n}" for n in doc["notes"]] + [""]
    for s in doc["systems"]:
        lines += [f"## AI system: {s['workload']}", ""]
        prod = s["production"]
        lines += [
            f"- Stack entry: `{s['stack']}`; owner {md_cell(s['owner']['value'])}",
            "- In production: "
            + (
                f"`{prod['ref']}` digest `{prod['digest']}` since {prod['since']}" if prod else "no"
            ),
            f"- Risk class: **{s['risk_class']['value']}** ({s['risk_class']['source']})",
            f"- Registration required: {md_cell(s['registration']['required'])}: "
            f"{s['registration']['basis']}; obligations: {s['registration']['obligations']}",
            "",
            "### Annex VIII Section A: registration information",
            "",
        ]
        lines += md_table(
            ["Point", "Field", "Value", "Source"],
            (
                [
                    f["item"],
                    f["label"],
                    _value_text(f["value"]) + (f" ({f['hint']})" if f.get("hint") else ""),
                    f["source"],
                ]
                for f in s["annex_viii_section_a"]
            ),
        )
        lines += ["### Annex IV: technical documentation evidence", ""]
        for item in s["annex_iv"]:
            lines += [f"#### {item['item']} {item['title']}", ""]
            if item.get("note"):
                lines += [f"_{item['note']}_", ""]
            lines += _item_table(item)
    return "\n".join(lines).rstrip() + "\n"


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "<br>".join(_named(v) for v in value)
    if isinstance(value, dict):
        return md_cell({k: v for k, v in value.items() if v is not None})
    return md_cell(value)


def _named(value: Any) -> str:
    """A listed component or dataset as ``ref (kind)``, with its digest when known."""
    if not isinstance(value, dict):
        return md_cell(value)
    text = md_cell(value.get("ref") or value.get("entry"))
    if value.get("kind"):
        text += f" ({value['kind']})"
    if value.get("digest"):
        text += f" `{value['digest']}`"
    return text


def _item_table(item: dict[str, Any]) -> list[str]:
    rows = item["evidence"]
    key = item["item"]
    if key == "2(a)":
        return md_table(
            ["Version", "Kind", "Digest", "Pre-trained", "Built from", "Ledger seq"],
            (
                [
                    r["ref"],
                    r["kind"],
                    r["digest"],
                    r["pre_trained"],
                    r["built_from"],
                    r["ledger_seq"],
                ]
                for r in rows
            ),
        )
    if key == "2(d)":
        return md_table(
            ["Dataset", "Digest", "License", "Description", "Used by", "Ledger seq"],
            (
                [
                    r["ref"],
                    r["digest"],
                    r["license"],
                    r["description"],
                    r["used_by"],
                    r["ledger_seq"],
                ]
                for r in rows
            ),
        )
    if key == "2(g)":
        evals = md_table(
            ["Version", "Suite", "Metric", "Value", "Current", "Produced at", "Recorded by"],
            (
                [
                    r["ref"],
                    r["suite"],
                    r["metric"],
                    r["value"],
                    r["current"],
                    r["produced_at"],
                    r["recorded_by"],
                ]
                for r in rows
            ),
        )
        gates = md_table(
            ["Request", "Gate", "Passed", "Detail", "Ledger seq"],
            (
                [g["request_id"], g["gate"], g["passed"], g["detail"], g["ledger_seq"]]
                for g in item["gates"]
            ),
        )
        return [*evals, "Gates recorded when the production request was applied:", "", *gates]
    if key == "3":
        return md_table(
            ["Version", "Card field", "Value", "Set by", "Set at"],
            ([r["ref"], r["field"], r["value"], r["set_by"], r["set_at"]] for r in rows),
        )
    if key == "4":
        return [
            *md_table(
                ["Suite", "Threshold", "Source"],
                (
                    [r["suite"], f"{r['metric']} {r['op']} {r['value']:g}", r["source"]]
                    for r in rows
                ),
            ),
            f"Evals no older than {md_cell(item['max_eval_age_days'])} days; "
            f"{item['approvals_required']} approval(s); signed: "
            f"{md_cell(item['signed_approvals'])}.",
            "",
        ]
    return md_table(
        ["Version", "Stage", "Cause", "From", "To", "Actor", "Requester", "Approved by", "Seq"],
        (
            [
                r["ref"],
                r["stage"],
                r["cause"],
                r["effective_from"],
                r["effective_to"],
                r["actor"],
                r["requester"],
                r["approved_by"],
                r["ledger_seq"],
            ]
            for r in rows
        ),
    )
