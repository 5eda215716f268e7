"""Commands about what runs: resolve, deploy, history, review due."""

from __future__ import annotations

import sys

import click

from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note


@cli.command()
@click.argument("workload")
@click.option("--at", default=None, metavar="ISO-8601", help="Answer as of this instant.")
@pass_settings
def resolve(settings: Settings, workload: str, at: str | None) -> None:
    """The exact stack serving WORKLOAD in production, now or --at an instant.

    \b
    Example:
      registry resolve customer-support --at 2026-11-01T09:00:00Z
    """
    from registry_pipeline.core.times import parse_instant

    instant = parse_instant(at, what="--at") if at else None
    data = settings.registry().resolve(workload, at=instant).to_dict()

    def text() -> str:
        stack = data["stack"]
        lines = [
            f"{workload}: {stack['entry']}@{stack['version']} {stack['digest']}",
            f"  since {data['since']}, approved by {', '.join(data['approved_by']) or 'nobody'}",
        ]
        lines += [
            f"  {c['entry']}@{c['version']} ({c['kind']}) {c['digest']}" for c in data["components"]
        ]
        return "\n".join(lines)

    emit(settings, data, text)


@cli.command()
@pass_settings
def deploy(settings: Settings) -> None:
    """Rewrite every workload target's deployment manifest from the store.

    Manifests live under REGISTRY_DEPLOYMENTS (default .registry/deployments) and are
    rewritten after every production change; this repairs them after a failed write.

    \b
    Example:
      registry deploy
    """
    paths = settings.registry().write_deployments()
    emit(settings, {"written": paths}, "\n".join(paths) or "no deployment targets declared")


@cli.command()
@click.argument("entry")
@click.option("--stage", default=None, metavar="STAGE", help="Only this stage.")
@pass_settings
def history(settings: Settings, entry: str, stage: str | None) -> None:
    """Who moved which version of ENTRY into which stage, and when.

    \b
    Example:
      registry history support-bot --stage production
    """
    rows = [r.to_dict() for r in settings.registry().history(entry, stage=stage)]

    def text() -> str:
        header = ("VERSION", "STAGE", "FROM", "TO", "BY", "APPROVED BY", "REASON")
        body = [
            (
                f"v{r['version']}",
                r["stage"],
                r["effective_from"],
                r["effective_to"] or "-",
                r["actor"],
                ", ".join(r["approved_by"]) or "-",
                r["reason"],
            )
            for r in rows
        ]
        return out.table(header, body)

    emit(settings, {"entry": entry, "history": rows}, text)


@cli.group()
def review() -> None:
    """Review cycles: approvals and evals that have outlived the policy."""


@review.command(name="due")
@pass_settings
def review_due(settings: Settings) -> None:
    """List production versions whose approval or evals are due for review.

    Approvals older than the policy's review_every_days and evals older than
    max_eval_age_days; the gates refuse new promotions resting on such evidence.

    \b
    Example:
      registry review due
    """
    rows = [r.to_dict() for r in settings.registry().review_due()]

    def text() -> str:
        if not rows:
            return "nothing is due for review"
        header = ("ENTRY", "VERSION", "DUE", "AGE (DAYS)", "LIMIT", "SINCE")
        body = [
            (
                r["entry"],
                f"v{r['version']}",
                r["what"],
                out.text(r["age_days"]) or "never",
                f"{r['limit_days']:g}",
                r["since"] or "-",
            )
            for r in rows
        ]
        return out.table(header, body)

    emit(settings, {"due": rows}, text)


@cli.command(name="verify-content")
@click.argument("ref", metavar="ENTRY@VERSION")
@click.argument("path", type=click.Path())
@pass_settings
def verify_content(settings: Settings, ref: str, path: str) -> None:
    """Check that the bytes at PATH are exactly version ENTRY@VERSION (exit 0), or name the
    first file that differs (exit 4).

    \b
    Example:
      registry verify-content support-lora@3 /models/support-lora
    """
    from registry_pipeline.cli import _errors
    from registry_pipeline.core.errors import Conflict

    check = settings.registry().verify_content(ref, path)
    data = check.to_dict()
    if check.ok:
        emit(settings, data, f"{path} is {check.entry}@{check.version} {check.digest}")
        return
    emit(settings, data, f"{path} is NOT {check.entry}@{check.version}")
    note(f"error: {path} is not {check.entry}@{check.version}: {check.difference}")
    sys.exit(_errors.code_for(Conflict))
