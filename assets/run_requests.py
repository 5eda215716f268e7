"""The run requests the sensors send, built from the same typed config the entry assets and
the launchpad jobs take, so a request and the run it starts cannot disagree on a field."""

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg

from registry_pipeline.assets.asset_keys import entry_key
from registry_pipeline.assets.entries import EntryRunConfig, EvalFileConfig, RegisterConfig, op_name
from registry_pipeline.assets.launchpad import (
    ApplyConfig,
    LandingProblemConfig,
    apply_promotion_op,
    landing_problem_op,
    landing_rejected,
)
from registry_pipeline.core.automation import StackPins
from registry_pipeline.core.catalog import CatalogEntry
from registry_pipeline.landing import LandingManifest, LandingOutput
from registry_pipeline.service.results import GateReport

#: The asset job that registers versions of catalog entries.
ENTRY_JOB = "register_entries"
#: The asset job that rebuilds the ledger asset and what derives from it.
REBUILD_JOB = "rebuild_derived"
#: Tag of the runs that rebuild what derives from the ledger.
DERIVED_TAG = "registry/derived"
#: Tag of an apply run: the promotion request it applies.
REQUEST_TAG = "registry/request"


def _ops(config: Mapping[str, dg.Config]) -> dict[str, Any]:
    """Run config of ops only, as the launchpad shows it."""
    return {"ops": dg.RunConfig(ops=dict(config)).to_config_dict()["ops"]}


def register_config(entry: CatalogEntry, wanted: EntryRunConfig) -> dict[str, Any]:
    """Run config of the entry job registering ``wanted`` as a version of ``entry``."""
    return _ops({op_name(entry.kind): RegisterConfig(entries={entry.name: wanted})})


def register_output(
    entry: CatalogEntry, output: LandingOutput, manifest: LandingManifest, digest: str
) -> dg.RunRequest:
    """Register a training output whose content has ``digest``; the digest is the run key,
    so a restart or a repeated tick never registers it twice."""
    wanted = EntryRunConfig(
        source=str(output.path.resolve()),
        upstream=list(manifest.upstream),
        params=dict(manifest.params),
        exclude=manifest.excluded(),
        expected_digest=digest,
        evals=[
            EvalFileConfig(file=str((output.path / e.file).resolve()), suite=e.suite)
            for e in manifest.evals
        ],
    )
    return dg.RunRequest(
        job_name=ENTRY_JOB,
        run_key=f"{entry.name}:{digest}",
        asset_selection=[entry_key(entry)],
        run_config=register_config(entry, wanted),
        tags={"registry/landing": output.key, "registry/digest": digest},
    )


def reject_output(output: LandingOutput, problem: str) -> dg.RunRequest:
    """A failed run saying why the training output ``output`` was refused."""
    config = LandingProblemConfig(output=output.key, problem=problem)
    return dg.RunRequest(
        job_name=landing_rejected.name,
        run_key=f"rejected:{output.key}:{output.ready_ns}",
        run_config=_ops({landing_problem_op.name: config}),
        tags={"registry/landing": output.key},
    )


def assemble_stack(stack: CatalogEntry, due: StackPins) -> dg.RunRequest:
    """Register a new version of ``stack`` pinning ``due``; the pins are the run key."""
    return dg.RunRequest(
        job_name=ENTRY_JOB,
        run_key=f"{stack.name}:{','.join(due.refs())}",
        asset_selection=[entry_key(stack)],
        run_config=register_config(stack, EntryRunConfig(upstream=due.refs())),
        tags={"registry/stack": stack.name},
    )


def apply_promotion(report: GateReport, *, ledger_seq: int) -> dg.RunRequest:
    """Apply the request ``report`` judged; one run per request and ledger head."""
    return dg.RunRequest(
        run_key=f"apply:{report.request}:{ledger_seq}",
        run_config=_ops({apply_promotion_op.name: ApplyConfig(request=report.request)}),
        tags={
            REQUEST_TAG: str(report.request),
            "registry/version": f"{report.entry}@{report.version}",
            "registry/target": report.target,
        },
    )


def rebuild_derived(targets: Sequence[dg.AssetKey], *, ledger_seq: int) -> dg.RunRequest:
    """Rebuild ``targets`` (the ledger and what derives from it) as of event ``ledger_seq``."""
    return dg.RunRequest(
        run_key=f"ledger:{ledger_seq}",
        asset_selection=list(targets),
        tags={DERIVED_TAG: "true"},
    )


def run_checks(
    checks: Sequence[dg.AssetCheckKey], *, entries: Sequence[str], day: date
) -> dg.RunRequest:
    """Run ``checks`` (of ``entries``) once on ``day``."""
    return dg.RunRequest(
        run_key=f"review:{day.isoformat()}:{','.join(entries)}",
        asset_selection=[],
        asset_check_keys=list(checks),
    )
