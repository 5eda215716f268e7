"""Commands about what runs: resolve, deploy, history, review due."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, cast

import click

from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note
from registry_pipeline.core.errors import BadInput

if TYPE_CHECKING:
    from registry_pipeline.client import RemoteRegistry
    from registry_pipeline.service import Registry


@cli.command()
@click.argument("workload")
@click.option("--at", default=None, metavar="ISO-8601", help="Answer as of this instant.")
@click.option(
    "--verify",
    "prove",
    is_flag=True,
    help="Prove the ledger event behind the answer: in the server's signed log (or the "
    "local tree), and saying what the answer says.",
)
@click.option(
    "--key",
    default=None,
    metavar="VERIFIER-KEY",
    help="With --verify against a server: its checkpoint key to pin (env "
    "REGISTRY_CHECKPOINT_KEY; default: the one pinned by `registry audit verify`).",
)
@pass_settings
def resolve(
    settings: Settings, workload: str, at: str | None, prove: bool, key: str | None
) -> None:
    """The exact stack serving WORKLOAD in production, now or --at an instant.

    With --verify, also prove the ledger event that put the stack in production: its
    inclusion in the checkpoint the server signed (checked against the pinned key and the
    last checkpoint saved), and that it names this version, its approvers and request;
    exit 4 when the stage row and the ledger disagree.

    \b
    Example:
      registry resolve customer-support --at 2026-11-01T09:00:00Z
      registry resolve customer-support --verify
    """
    from registry_pipeline.core.times import parse_instant

    if key is not None and not prove:
        raise BadInput("--key pins the checkpoint key for --verify; add --verify")
    instant = parse_instant(at, what="--at") if at else None
    registry = settings.registry()
    data = registry.resolve(workload, at=instant).to_dict()
    proven = _prove(settings, registry, data, key) if prove else None

    def text() -> str:
        stack = data["stack"]
        lines = [
            f"{workload}: {stack['entry']}@{stack['version']} {stack['digest']}",
            f"  since {data['since']}, approved by {', '.join(data['approved_by']) or 'nobody'}",
        ]
        lines += [
            f"  {c['entry']}@{c['version']} ({c['kind']}) {c['digest']}" for c in data["components"]
        ]
        if proven is not None:
            lines.append(
                f"verified: ledger event {proven['seq']} ({proven['action']} by "
                f"{proven['actor']}) is in {proven['log']}"
            )
        return "\n".join(lines)

    if proven is not None:
        data["verified"] = proven
    emit(settings, data, text)


def _prove(
    settings: Settings, registry: Registry | RemoteRegistry, data: dict[str, Any], key: str | None
) -> dict[str, Any]:
    """The proof of the event behind a resolve answer, against the server's signed
    checkpoint (checked and saved) or the local tree."""
    from registry_pipeline import tlog
    from registry_pipeline.cli.audit import is_remote, observe, pinned_key

    if not is_remote(settings):
        local = cast("Registry", registry).ledger
        head = local.head("local")
        proven = tlog.prove_resolution(local, data, head)
        return {**proven, "log": f"the local ledger's tree of {head.size} events"}
    url, pinned = pinned_key(settings, key)
    if pinned is None:
        raise BadInput(
            "resolve --verify against a server needs its checkpoint key: --key VERIFIER-KEY "
            f"or REGISTRY_CHECKPOINT_KEY (the server shows it at {url}/api/v1/info: check it "
            "out of band)"
        )
    remote = cast("RemoteRegistry", registry)
    observed = observe(remote, url, pinned)
    proven = tlog.prove_resolution(remote.ledger, data, observed.checkpoint)
    checkpoint = observed.checkpoint
    return {
        **proven,
        "checkpoint": observed.to_dict(),
        "log": f"the log of {checkpoint.size} events signed by {checkpoint.origin}",
    }


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
