"""Commands that move versions between stages: promote, approve, reject, withdraw, gates,
apply, rollback."""

from __future__ import annotations

import click

from registry_pipeline.cli._app import REQUEST_ID, Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note


@cli.command()
@click.argument("ref", metavar="ENTRY@VERSION")
@click.option("--to", "to", required=True, metavar="STAGE", help="staging, production...")
@click.option("--reason", required=True, help="Why this version should move.")
@pass_settings
def promote(settings: Settings, ref: str, to: str, reason: str) -> None:
    """Open a promotion request; prints its id.

    \b
    Example:
      registry promote support-bot@3 --to production --reason "beats v2 on support-evals"
    """
    request = settings.registry().request_promotion(ref, to=to, reason=reason)
    note(
        f"request {request.id} opened; an approver runs `registry approve {request.id} "
        f"--reason ...`, then `registry apply {request.id}`"
    )
    emit(
        settings,
        {
            "request": request.id,
            "entry": request.entry,
            "version": request.version,
            "target": request.target.value,
            "status": request.status.value,
        },
        str(request.id),
    )


@cli.command()
@click.argument("request", type=REQUEST_ID)
@click.option("--reason", required=True, help="Why you approve.")
@click.option("--key", type=click.Path(), help="Ed25519 private key file to sign with.")
@pass_settings
def approve(settings: Settings, request: int, reason: str, key: str | None) -> None:
    """Approve a promotion request (never your own).

    \b
    Example:
      REGISTRY_ACTOR=bob@example.com registry approve 7 --reason "reviewed evals and card"
      registry approve 7 --reason "reviewed" --key ~/.registry/bob.pem
    """
    data = settings.registry().approve(request, reason=reason, key=key).to_dict()
    signed = " (signed)" if data["signed"] else ""
    emit(settings, data, f"request {request} approved by {data['approver']}{signed}")


@cli.command()
@click.argument("request", type=REQUEST_ID)
@click.option("--reason", required=True, help="Why you reject.")
@pass_settings
def reject(settings: Settings, request: int, reason: str) -> None:
    """Reject a promotion request; it can no longer be applied.

    \b
    Example:
      registry reject 7 --reason "card lacks limitations"
    """
    data = settings.registry().reject(request, reason=reason).to_dict()
    emit(settings, data, f"request {request} rejected by {data['approver']}")


@cli.command()
@click.argument("request", type=REQUEST_ID)
@click.option("--reason", required=True, help="Why you withdraw it.")
@pass_settings
def withdraw(settings: Settings, request: int, reason: str) -> None:
    """Withdraw a pending promotion request (its requester or an admin).

    The version is then free for a new request.

    \b
    Example:
      registry withdraw 7 --reason "opened against the wrong stage"
    """
    data = settings.registry().withdraw(request, reason=reason).to_dict()
    emit(settings, data, f"request {request} withdrawn by {data['by']}")


@cli.command()
@click.argument("request", type=REQUEST_ID)
@pass_settings
def gates(settings: Settings, request: int) -> None:
    """Evaluate every gate of a request: pass/fail and why.

    \b
    Example:
      registry gates 7
    """
    report = settings.registry().gates(request)

    def text() -> str:
        head = f"request {report.request}: {report.entry}@{report.version} -> {report.target}: " + (
            "all gates pass" if report.passed else "blocked"
        )
        return "\n".join(
            [head]
            + [f"  {'PASS' if g.passed else 'FAIL'}  {g.name:<17} {g.detail}" for g in report.gates]
        )

    emit(settings, report.to_dict(), text)


@cli.command()
@click.argument("request", type=REQUEST_ID)
@pass_settings
def apply(settings: Settings, request: int) -> None:
    """Apply a request if every gate passes (re-checked in the same transaction).

    \b
    Example:
      registry apply 7
    """
    change = settings.registry().apply(request)
    emit(
        settings,
        change.to_dict(),
        f"{change.entry}@{change.version} is now in {change.stage}"
        + (f" (was {change.entry}@{change.previous})" if change.previous else ""),
    )


@cli.command()
@click.argument("entry")
@click.option("--stage", required=True, metavar="STAGE", help="staging or production.")
@click.option("--reason", required=True, help="Why you roll back.")
@pass_settings
def rollback(settings: Settings, entry: str, stage: str, reason: str) -> None:
    """Return STAGE of ENTRY to the version that held it before.

    \b
    Example:
      registry rollback support-bot --stage production --reason "latency regression"
    """
    change = settings.registry().rollback(entry, stage=stage, reason=reason)
    emit(
        settings,
        change.to_dict(),
        f"{change.entry} {change.stage} rolled back to v{change.version} (from v{change.previous})",
    )
