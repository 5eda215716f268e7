"""Model cards as Markdown with Hugging Face-compatible YAML front matter.

The front matter is written by ``huggingface_hub.ModelCardData`` itself, so
``huggingface_hub.ModelCard(text).data`` reads back the same license, base models,
datasets, tags and eval results (``model-index``). Names in ``base_model`` and ``datasets``
are registry entry names, not Hub repository ids: the cards document the registry, they
are not meant to be pushed to the Hub as they are.

A card set from a Hugging Face ``README.md`` keeps its own front matter (language,
pipeline_tag, tags...) under the registry's, which wins where it has a value (license,
base models, datasets, eval results; tags are merged), and its Markdown stands in for the
card field sections.

:func:`write_cards` writes a card for every version of the kinds that are evaluated
before promotion (models and stacks): those are the versions a card documents and the
promotion gates read. Datasets, prompts, indexes and suites are described where they are
used, in the lineage of the cards and in the CycloneDX BOM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from registry_pipeline.atomic_files import write_atomically
from registry_pipeline.core.cards import field_title
from registry_pipeline.core.catalog import CatalogEntry
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.errors import NotFound
from registry_pipeline.exports.cyclonedx import current_evals, eval_runs, model_facts
from registry_pipeline.store.snapshot import Row, Snapshot

BASE_MODEL_KINDS = frozenset({EntryKind.BASE_MODEL, EntryKind.FINE_TUNE})
BASE_MODEL_RELATION: Mapping[EntryKind, str] = {
    EntryKind.LORA_ADAPTER: "adapter",
    EntryKind.FINE_TUNE: "finetune",
}
# model-index needs a task type; "other" is the Hub's task for what fits no listed task.
UNKNOWN_TASK = "other"
SECTION_FIELDS = ("intended_use", "limitations", "training_data")


def render_card(snap: Snapshot, entry: str, version: int) -> str:
    """Render the model card of ``entry`` version ``version``.

    Front matter: ``license`` (as declared in the catalog), ``base_model`` and
    ``base_model_relation`` (upstream base models or fine-tunes; ``adapter`` for a LoRA
    adapter, ``finetune`` for a fine-tune), ``datasets`` (upstream datasets), ``tags``
    and ``model-index`` (the latest result of each eval suite), over the front matter of
    the README the card was set from. Body: description, intended use, limitations,
    training data and any other card fields (or the README's Markdown), lineage (exact
    upstream versions with digests, transitively), every eval result, the promotion
    requests with their approvals and gates, the stage history, and a footer with the
    ledger head the card was rendered at.

    Args:
        snap: the snapshot to render from.
        entry: the entry name.
        version: the version number.

    Returns:
        The card as Markdown text, ending with a newline.

    Raises:
        NotFound: the entry is not in the catalog or has no such version.
    """
    spec = snap.catalog.entry(entry)
    try:
        row = snap.version(entry, version)
    except KeyError:
        raise NotFound(f"{entry} has no version {version}", entry=entry, version=version) from None
    stored = snap.cards.get((entry, version)) or {}
    fields: Mapping[str, Any] = stored.get("fields") or {}
    front = _merged_front_matter(_front_matter(snap, spec, row), stored.get("front_matter"))
    body = [
        *_header(spec, row),
        *_card_sections(snap, spec, row, fields),
        *_lineage(snap, row),
        *_eval_table(snap, row),
        *_approvals(snap, row),
        *_stage_history(snap, row),
        _footer(snap),
    ]
    return f"---\n{front}\n---\n\n" + "\n".join(body).rstrip() + "\n"


def write_cards(snap: Snapshot, out_dir: str | Path) -> list[Path]:
    """Write ``<entry>/v<version>.md`` for every version of a model kind or a stack.

    Files are written atomically (a temporary file renamed over the target); a card is
    rewritten in place when its version's card, evals or stages changed.

    Args:
        snap: the snapshot to export.
        out_dir: the folder to write to; created if missing.

    Returns:
        The paths written, by entry and version.
    """
    out = Path(out_dir)
    written = []
    for row in snap.versions:
        spec = snap.catalog.entries.get(row["entry"])
        if spec is None or not spec.kind.is_evaluated:
            continue
        path = out / row["entry"] / f"v{row['version']}.md"
        write_atomically(path, render_card(snap, row["entry"], row["version"]))
        written.append(path)
    return sorted(written)


def _front_matter(snap: Snapshot, spec: CatalogEntry, row: Row) -> ModelCardData:
    # A stack's pins are what it runs, not what it was derived from: only `upstream`
    # edges make base models and training datasets.
    upstream = [
        (e, snap.catalog.entry(e["upstream_entry"]))
        for e in snap.upstream(row["entry"], row["version"])
        if e["relation"] == "upstream"
    ]
    base_models = sorted({e["upstream_entry"] for e, s in upstream if s.kind in BASE_MODEL_KINDS})
    datasets = sorted({e["upstream_entry"] for e, s in upstream if s.kind is EntryKind.DATASET})
    extra: dict[str, Any] = {}
    if base_models and spec.kind in BASE_MODEL_RELATION:
        extra["base_model_relation"] = BASE_MODEL_RELATION[spec.kind]
    task = model_facts(spec, row["params"]).get("task", UNKNOWN_TASK)
    results = [
        EvalResult(
            task_type=task,
            dataset_type=run.suite,
            dataset_name=run.suite_ref,
            dataset_revision=_digest_of(snap, run.suite, run.suite_version),
            metric_type=metric,
            metric_value=value,
            metric_name=field_title(metric),
        )
        for run in current_evals(snap, row["entry"], row["version"])
        for metric, value in sorted(run.metrics.items())
    ]
    return ModelCardData(
        license=spec.license,
        base_model=base_models or None,
        datasets=datasets or None,
        tags=_tags(spec),
        model_name=row["entry"],
        eval_results=results or None,
        **extra,
    )


def _merged_front_matter(registry: ModelCardData, own: Mapping[str, Any] | None) -> str:
    """The registry's front matter over the card's own (from its README): the registry's
    values win, tags are merged."""
    data: Any = registry  # ModelCardData is untyped
    if not own:
        return str(data.to_yaml())
    ours: dict[str, Any] = data.to_dict()
    merged = {**own, **ours}
    theirs = own.get("tags")
    if isinstance(theirs, list):
        merged["tags"] = [*ours.get("tags", []), *(t for t in theirs if t not in ours["tags"])]
    if "model-index" in ours:
        merged.pop("model_name", None)
    return str(ModelCardData(**merged, ignore_metadata_errors=True).to_yaml())


def _tags(spec: CatalogEntry) -> list[str]:
    tags = ["registry-pipeline", spec.kind.value]
    if spec.risk_class:
        tags.append(f"risk-class:{spec.risk_class}")
    tags += [f"{k}:{v}" for k, v in sorted(spec.tags.items())]
    return tags


def _header(spec: CatalogEntry, row: Row) -> list[str]:
    facts = [
        ("Kind", spec.kind.value),
        ("Owner", spec.owner),
        ("License", spec.license),
        ("Risk class", spec.risk_class),
        ("Stage", row["stage"]),
        ("Digest", f"sha256 `{row['digest']}`"),
        ("Registered", f"{row['created_at']} by {row['created_by']}"),
    ]
    lines = [f"# {row['entry']} v{row['version']}", ""]
    lines += [f"- **{name}**: {value}" for name, value in facts if value]
    lines.append("")
    if spec.description:
        lines += ["## Description", "", spec.description, ""]
    return lines


def _card_sections(
    snap: Snapshot, spec: CatalogEntry, row: Row, fields: Mapping[str, Any]
) -> list[str]:
    card = snap.cards.get((row["entry"], row["version"]))
    body = str((card or {}).get("body") or "").strip()
    if card is not None and body:
        return [body, "", f"_Card set by {card['set_by']} at {card['set_at']}._", ""]
    lines: list[str] = []
    for name in SECTION_FIELDS:
        value = fields.get(name)
        if name == "intended_use" and not value:
            value = spec.intended_use
        lines += [f"## {field_title(name)}", "", *_prose(value), ""]
    for name, value in fields.items():
        if name not in SECTION_FIELDS:
            lines += [f"## {field_title(name)}", "", *_prose(value), ""]
    if card is not None:
        lines += [f"_Card set by {card['set_by']} at {card['set_at']}._", ""]
    return lines


def _prose(value: Any) -> list[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return ["_Not documented._"]
    if isinstance(value, list | tuple):
        return [f"- {v}" for v in value] or ["_Not documented._"]
    return [str(value)]


def _lineage(snap: Snapshot, row: Row) -> list[str]:
    lines = ["## Lineage", ""]
    edges = snap.upstream(row["entry"], row["version"])
    if not edges:
        return [*lines, "_No upstream versions._", ""]
    lines += ["Exact upstream versions, transitively (sha256 digests of their content):", ""]
    lines += _lineage_items(snap, edges, depth=0, path=((row["entry"], row["version"]),))
    return [*lines, ""]


def _lineage_items(
    snap: Snapshot,
    edges: Sequence[Row],
    *,
    depth: int,
    path: tuple[tuple[str, int], ...],
) -> list[str]:
    lines = []
    for e in sorted(edges, key=lambda e: (e["upstream_entry"], e["upstream_version"])):
        key = (e["upstream_entry"], e["upstream_version"])
        up = snap.version(*key)
        kind = snap.catalog.entry(key[0]).kind.value
        lines.append(
            f"{'  ' * depth}- `{key[0]}@{key[1]}` ({kind}, {e['relation']}): `{up['digest']}`"
        )
        if key not in path:
            lines += _lineage_items(snap, snap.upstream(*key), depth=depth + 1, path=(*path, key))
    return lines


def _eval_table(snap: Snapshot, row: Row) -> list[str]:
    lines = ["## Evaluation results", ""]
    runs = eval_runs(snap, row["entry"], row["version"])
    if not runs:
        return [*lines, "_No eval results recorded._", ""]
    current = {r.eval_id for r in current_evals(snap, row["entry"], row["version"])}
    lines += [
        "The latest result of each suite (the one the promotion gate reads) is current; "
        "older results are kept as history.",
        "",
        "| Suite | Metric | Value | Produced at | Recorded by | Status |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        _row(
            run.suite_ref,
            metric,
            repr(float(value)),
            run.produced_at,
            run.recorded_by,
            "current" if run.eval_id in current else "superseded",
        )
        for run in runs
        for metric, value in sorted(run.metrics.items())
    ]
    return [*lines, ""]


def _approvals(snap: Snapshot, row: Row) -> list[str]:
    requests = [
        r for r in snap.requests if r["entry"] == row["entry"] and r["version"] == row["version"]
    ]
    lines = ["## Promotion requests and approvals", ""]
    if not requests:
        return [*lines, "_No promotion requests._", ""]
    lines += [
        "| Request | Target | Requester | Reason | Status | Decisions | Gates |",
        "|---|---|---|---|---|---|---|",
    ]
    for req in sorted(requests, key=lambda r: r["id"]):
        decisions = [
            f"{a['decision']} by {a['approver']}{' (signed)' if a['signed'] else ''} "
            f"at {a['created_at']}: {a['reason']}"
            for a in snap.approvals
            if a["request_id"] == req["id"]
        ]
        lines.append(
            _row(
                f"#{req['id']}",
                req["target"],
                req["requester"],
                req["reason"],
                req["status"],
                "; ".join(decisions) or "none",
                _gates_of(snap, req["id"]),
            )
        )
    return [*lines, ""]


def _gates_of(snap: Snapshot, request_id: int) -> str:
    rows = [g for g in snap.gates if g["request_id"] == request_id]
    if not rows:
        return "not evaluated"
    last = max(g["ledger_seq"] for g in rows)
    return ", ".join(
        f"{g['name']} {'passed' if g['passed'] else 'failed'}"
        for g in sorted(rows, key=lambda g: g["name"])
        if g["ledger_seq"] == last
    )


def _stage_history(snap: Snapshot, row: Row) -> list[str]:
    history = [s for s in snap.history(row["entry"]) if s["version"] == row["version"]]
    lines = ["## Stage history", ""]
    if not history:
        return [*lines, "_No stage assignments._", ""]
    lines += [
        "| Stage | From | To | Cause | Actor | Approved by | Reason |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        _row(
            s["stage"],
            s["effective_from"],
            s["effective_to"] or "now",
            s["cause"],
            s["actor"],
            ", ".join(s["approved_by"] or []) or "-",
            s["reason"],
        )
        for s in history
    ]
    return [*lines, ""]


def _footer(snap: Snapshot) -> str:
    catalog = f"; catalog digest `{snap.catalog_digest}`" if snap.catalog_digest else ""
    return (
        f"_Rendered from the registry at ledger seq {snap.head_seq}, head "
        f"`{snap.head_hash}` ({snap.head_time}){catalog}._"
    )


def _digest_of(snap: Snapshot, entry: str, version: int) -> str | None:
    try:
        digest: str = snap.version(entry, version)["digest"]
    except KeyError:
        return None
    return digest


def _row(*cells: Any) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")
