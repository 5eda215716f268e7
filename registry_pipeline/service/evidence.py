"""Evidence on versions: offline eval results, online A/B results, model cards."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_pipeline.core.catalog import Operation
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.refs import parse_exact
from registry_pipeline.core.times import format_time
from registry_pipeline.errors import BadInput, Conflict
from registry_pipeline.service.context import Context
from registry_pipeline.service.results import ABRecorded, CardSet, EvalRecorded
from registry_pipeline.store import dumps, versions
from registry_pipeline.store import evidence as stored

if TYPE_CHECKING:
    from registry_pipeline.inputs.card_files import CardDocument


def ingest_evals(
    ctx: Context, ref: str, results: str | Path | Mapping[str, Any], *, suite: str
) -> EvalRecorded:
    """Record eval results of ``suite`` (``SUITE@VERSION``) for version ``ref``.

    ``results`` is a YAML/JSON file or mapping: ``{metrics, produced_at, details}``, an
    lm-evaluation-harness results file (every task's metrics named as ``register`` names
    them, ``<task>/<metric>,<filter>``), or a flat mapping of metric to number.

    Raises:
        BadInput: malformed results, a suite that is not an eval suite, or a
            ``produced_at`` in the future.
        NotFound: the version or suite version does not exist.
    """
    from registry_pipeline.inputs.eval_results import parse_eval_results, read_eval_results

    target = parse_exact(ref)
    suite_ref = parse_exact(suite)
    parsed = (
        read_eval_results(results)
        if isinstance(results, str | Path)
        else parse_eval_results(results)
    )
    metrics, produced, details = dict(parsed.metrics), parsed.produced_at, parsed.details
    with ctx.write() as tx:
        catalog = ctx.catalog(tx.conn)
        ctx.require(catalog, Operation.EVIDENCE, target.entry)
        suite_spec = catalog.entry(suite_ref.entry)
        if suite_spec.kind is not EntryKind.EVAL_SUITE:
            raise BadInput(
                f"suite {suite}: {suite_ref.entry} is a {suite_spec.kind}, not an eval suite"
            )
        versions.version(tx.conn, target.entry, target.version)
        versions.version(tx.conn, suite_ref.entry, suite_ref.version)
        produced_at = produced or tx.now
        if produced_at > tx.now:
            raise BadInput(f"produced_at {format_time(produced_at)} is in the future")
        try:
            details_json = dumps(details)
        except (TypeError, ValueError) as e:
            raise BadInput(f"eval results: details are not JSON-serialisable: {e}") from e
        eval_id = stored.insert_eval(
            tx.conn,
            entry=target.entry,
            number=target.version,
            suite=suite_ref.entry,
            suite_number=suite_ref.version,
            metrics=metrics,
            details_json=details_json,
            produced_at=format_time(produced_at),
            at=tx.now_text,
            actor=ctx.actor,
        )
        recorded = EvalRecorded(
            id=eval_id,
            entry=target.entry,
            version=target.version,
            suite=suite_ref.entry,
            suite_version=suite_ref.version,
            metrics=metrics,
            produced_at=format_time(produced_at),
        )
        tx.append("eval.ingest", str(target), recorded.to_dict())
    return recorded


def ingest_ab(ctx: Context, results: str | Path | Mapping[str, Any]) -> ABRecorded:
    """Record an online A/B test result as evidence on both versions it compared.

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
    with ctx.write() as tx:
        ctx.require(ctx.catalog(tx.conn), Operation.EVIDENCE, result.entry)
        for number in (result.control_version, result.treatment_version):
            versions.version(tx.conn, result.entry, number)
        if stored.ab_recorded(
            tx.conn, experiment=result.experiment, entry=result.entry, metric=result.metric
        ):
            raise Conflict(
                f"experiment {result.experiment!r} already has a {result.metric} result "
                f"for {result.entry}; evidence is appended, never replaced"
            )
        stored.insert_ab(
            tx.conn,
            experiment=result.experiment,
            entry=result.entry,
            control=result.control_version,
            treatment=result.treatment_version,
            metric=result.metric,
            document=document,
            decision=result.decision,
            ended_at=format_time(result.ended_at),
            at=tx.now_text,
            actor=ctx.actor,
        )
        tx.append("ab.ingest", f"{result.entry}@{result.treatment_version}", document)
    return ABRecorded(
        entry=result.entry,
        experiment=result.experiment,
        metric=result.metric,
        control_version=result.control_version,
        treatment_version=result.treatment_version,
        lift=result.lift,
        decision=str(result.decision),
        document=document,
    )


def set_card(
    ctx: Context, ref: str, fields: Mapping[str, Any] | str | Path | CardDocument
) -> CardSet:
    """Set the model card of version ``ref`` from a mapping of fields, a YAML/JSON file of
    them, or a Hugging Face ``README.md`` (front matter and Markdown sections; see
    :mod:`registry_pipeline.inputs.card_files`), whose Markdown is kept with the card."""
    target = parse_exact(ref)
    from registry_pipeline.inputs.card_files import (
        CardDocument,
        card_from_mapping,
        read_card_file,
    )

    if isinstance(fields, CardDocument):
        document = fields
    elif isinstance(fields, str | Path):
        document = read_card_file(fields)
    else:
        document = card_from_mapping(fields)
    stored_fields = {k: list(v) if isinstance(v, tuple) else v for k, v in document.fields.items()}
    front = dict(document.front_matter)
    with ctx.write() as tx:
        ctx.require(ctx.catalog(tx.conn), Operation.EVIDENCE, target.entry)
        versions.version(tx.conn, target.entry, target.version)
        stored.insert_card(
            tx.conn,
            entry=target.entry,
            number=target.version,
            fields=stored_fields,
            at=tx.now_text,
            actor=ctx.actor,
            body=document.body,
            front_matter=front,
        )
        payload: dict[str, Any] = {
            "entry": target.entry,
            "version": target.version,
            "fields": stored_fields,
        }
        if document.body:
            payload["body_sha256"] = hashlib.sha256(document.body.encode()).hexdigest()
        if front:
            payload["front_matter"] = front
        tx.append("card.set", str(target), payload)
    return CardSet(
        entry=target.entry,
        version=target.version,
        card=stored_fields,
        sections={k: list(v) for k, v in document.sections.items()},
    )
