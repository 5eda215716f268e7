"""Commands that record evidence: eval ingest, eval ab."""

from __future__ import annotations

import click

from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit


@cli.group(name="eval")
def eval_() -> None:
    """Eval evidence on versions."""


@eval_.command(name="ingest")
@click.argument("ref", metavar="ENTRY@VERSION")
@click.argument("results", type=click.Path())
@click.option("--suite", required=True, metavar="SUITE@VERSION", help="The eval suite version.")
@pass_settings
def eval_ingest(settings: Settings, ref: str, results: str, suite: str) -> None:
    """Record eval RESULTS (YAML/JSON) of SUITE for a version.

    RESULTS is `{metrics: {name: number}, produced_at: ISO-8601}`, a flat mapping of
    metric to number, or the results JSON lm-evaluation-harness writes: every task's
    metrics are recorded as `register` names them, `<task>/<metric>,<filter>` (e.g.
    `arc_easy/acc,none`), with standard errors, task versions and n-shot in details.

    \b
    Example:
      registry eval ingest support-bot@3 results.json --suite support-evals@2
      registry eval ingest llama@2 out/results_2026-11-20T10-00-00.json --suite arc@1
    """
    data = settings.registry().ingest_evals(ref, results, suite=suite).to_dict()
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(data["metrics"].items()))
    emit(settings, data, f"{ref}: {data['suite']}@{data['suite_version']} {metrics}")


@eval_.command(name="ab")
@click.argument("results", type=click.Path())
@pass_settings
def eval_ab(settings: Settings, results: str) -> None:
    """Record an online A/B test result (JSON) as evidence on both versions it compared.

    The format (experiment, entry, control_version, treatment_version, treatment_share,
    metric, lift, confidence_interval, p_value, decision, started_at, ended_at) is
    documented in registry_pipeline/formats/ab_tests.py. A stage whose policy sets
    require_ab_win needs the version to have won one: decision ship, an interval clear of
    zero, p <= 0.05.

    \b
    Example:
      registry eval ab experiments/support-lora-rollout.json
    """
    data = settings.registry().ingest_ab(results).to_dict()
    emit(
        settings,
        data,
        f"{data['entry']}: v{data['treatment_version']} vs v{data['control_version']} on "
        f"{data['metric']}: lift {data['lift']:g}, {data['decision']}",
    )
