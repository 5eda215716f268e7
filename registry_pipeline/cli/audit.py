"""Commands for auditors and analysts: audit verify, audit anchor, export, sql."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from registry_pipeline.cli import _errors
from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note
from registry_pipeline.core.errors import BadInput, Conflict

if TYPE_CHECKING:
    from registry_pipeline.client import RemoteRegistry
    from registry_pipeline.tlog import Observed

KEY_HELP = (
    "The server's checkpoint verifier key to pin (env REGISTRY_CHECKPOINT_KEY; default: "
    "the one pinned for this server in the state file). The server shows it at "
    "/api/v1/info: check it out of band."
)


@cli.group()
def audit() -> None:
    """Tamper evidence: the hash-chained ledger, its Merkle tree and signed checkpoints."""


def pinned_key(settings: Settings, key: str | None) -> tuple[str, str | None]:
    """The server's URL and the checkpoint key pinned for it: ``--key``, else
    REGISTRY_CHECKPOINT_KEY, else the key saved with the last checkpoint seen from it."""
    from registry_pipeline import settings as config

    url = config.server_url(settings.url)
    if url is None:
        raise BadInput(
            "--key pins a registry server's checkpoint key; set REGISTRY_URL (or --url) to "
            "check a server"
        )
    chosen = config.pinned_checkpoint_key(key)
    if chosen is None:
        from registry_pipeline import tlog

        chosen = tlog.saved_key(config.checkpoint_state(), url)
    return url, chosen


def observe(registry: RemoteRegistry, url: str, key: str) -> Observed:
    """The server's checkpoint, checked against ``key`` and the state file, then saved."""
    from registry_pipeline import settings as config
    from registry_pipeline import tlog

    return tlog.observe(registry.ledger, key, config.checkpoint_state(), url=url)


def seen_text(observed: Observed) -> str:
    """One line: the checkpoint checked, and what it was checked against."""
    checkpoint, previous = observed.checkpoint, observed.previous
    against = (
        f"consistent with the {previous.size} seen before"
        if previous is not None
        else f"first seen, saved in {observed.state}"
    )
    return f"checkpoint ok: {checkpoint.origin} at {checkpoint.size} events, {against}"


def is_remote(settings: Settings) -> bool:
    """True when the commands act through a registry server."""
    from registry_pipeline import settings as config

    return config.server_url(settings.url) is not None


@audit.command()
@click.option("--anchor", default=None, metavar="SEQ:HASH", help="An anchor taken earlier.")
@click.option("--key", default=None, metavar="VERIFIER-KEY", help=KEY_HELP)
@pass_settings
def verify(settings: Settings, anchor: str | None, key: str | None) -> None:
    """Recompute the ledger's hash chain and Merkle tree; exit 4 naming the first broken
    event.

    With --anchor (from `registry audit anchor`, kept outside the registry), also prove the
    history up to that anchor was not rewritten. Against a server with a pinned key, also
    check its signed checkpoint: signed by that key, and consistent with the last one this
    client saved (REGISTRY_CHECKPOINT_STATE); exit 4 on a shrink, a fork or a bad
    signature.

    \b
    Example:
      registry audit verify --anchor 1207:5f1c...e9
      registry --url https://registry.example.com audit verify --key "registry.example.com+..."
    """
    registry = settings.registry()
    observed = None
    if is_remote(settings) or key is not None:
        url, pinned = pinned_key(settings, key)
        if pinned is not None:
            observed = observe(cast("RemoteRegistry", registry), url, pinned)
    data: dict[str, Any] = registry.verify(anchor=anchor).to_dict()
    lines = [f"ledger ok: {data.get('events')} events, head {data.get('head')}"]
    if observed is not None:
        data["checkpoint"] = observed.to_dict()
        lines.append(seen_text(observed))
    if data["ok"]:
        emit(settings, data, "\n".join(lines))
        if observed is None and is_remote(settings):
            note(
                "note: the server checked its own chain; pin its checkpoint key (--key) to "
                "check the log yourself"
            )
        return
    emit(settings, data, f"ledger BROKEN at event {data['broken_at']}")
    note(f"error: ledger broken at event {data['broken_at']}: {data['problem']}")
    sys.exit(_errors.code_for(Conflict))  # the stored state contradicts itself


@audit.command(name="witness")
@click.option(
    "--url",
    "log_url",
    default=None,
    metavar="URL",
    help="The registry server to witness (default: REGISTRY_URL).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that keeps every checkpoint seen (one log per folder).",
)
@click.option(
    "--key",
    default=None,
    metavar="VERIFIER-KEY",
    help="The log's checkpoint key to pin (env REGISTRY_CHECKPOINT_KEY; default: the one "
    "the folder was started with).",
)
@pass_settings
def audit_witness(settings: Settings, log_url: str | None, out: Path, key: str | None) -> None:
    """Fetch a server's signed checkpoint, check it against the pinned key and the newest
    one kept in --out, and keep it there as SIZE.checkpoint, for an independent party to
    hold. Exit 4 on a bad signature, a shrink or a fork (another head of a size already
    kept, which is kept too, as evidence). Run it on a schedule.

    \b
    Example:
      registry audit witness --url https://registry.example.com --out witness/ --key "..."
    """
    from registry_pipeline import settings as config
    from registry_pipeline import tlog
    from registry_pipeline.client import RemoteRegistry

    url = config.server_url(log_url or settings.url)
    if url is None:
        raise BadInput("audit witness needs a registry server: --url URL (or REGISTRY_URL)")
    chosen = config.pinned_checkpoint_key(key) or tlog.folder_key(out)
    if chosen is None:
        raise BadInput(
            "pin the log's checkpoint key: --key VERIFIER-KEY or REGISTRY_CHECKPOINT_KEY "
            f"(the server shows it at {url}/api/v1/info: check it out of band)"
        )
    registry = RemoteRegistry(url, token=config.token(url))
    seen = tlog.witness(registry.ledger, chosen, out)
    data = seen.to_dict()
    checkpoint = seen.checkpoint
    if not seen.new:
        text = f"already witnessed: {checkpoint.origin} at {checkpoint.size} events ({seen.file})"
    elif seen.previous is None:
        text = f"witnessed {checkpoint.origin} at {checkpoint.size} events: the first ({seen.file})"
    else:
        text = (
            f"witnessed {checkpoint.origin} at {checkpoint.size} events, consistent with "
            f"{seen.previous.size} ({seen.file})"
        )
    emit(settings, data, text)


@audit.command(name="anchor")
@pass_settings
def audit_anchor(settings: Settings) -> None:
    """Print the ledger head as SEQ:HASH; keep it outside the registry (a ticket, a signed
    mail, a transparency log) to prove later that history was not rewritten.

    \b
    Example:
      registry audit anchor >> anchors.txt
    """
    data = settings.registry().anchor().to_dict()
    emit(settings, data, data["anchor"])


@cli.command(name="export")
@click.argument("fmt", metavar="FORMAT")
@click.option("--out", required=True, type=click.Path(), help="Folder to write into.")
@pass_settings
def export_(settings: Settings, fmt: str, out: str) -> None:
    """Write an export: inventory, cyclonedx, eu-ai-act, iso-42001, nist-ai-rmf, model-cards.

    Every export records the ledger head it was built from.

    \b
    Example:
      registry export cyclonedx --out exports/bom
      registry export inventory --out exports/inventory
    """
    from registry_pipeline.exports import export

    data = export(settings.local_registry("export"), fmt, out)
    emit(
        settings,
        data,
        "\n".join(data["files"]) + f"\n(as of ledger event {data['as_of']['ledger_seq']})",
    )


@cli.command()
@click.argument("query", metavar="SQL")
@click.option(
    "--inventory",
    envvar="REGISTRY_INVENTORY",
    type=click.Path(),
    default=None,
    help="Published inventory folder (env REGISTRY_INVENTORY; default .registry/inventory).",
)
@click.option("--no-refresh", is_flag=True, help="Query the published build even if stale.")
@pass_settings
def sql(settings: Settings, query: str, inventory: str | None, no_refresh: bool) -> None:
    """Run DuckDB SQL over the inventory (rebuilt first when the ledger moved).

    Tables: entries, workloads, versions, lineage_edges, eval_results, promotion_requests,
    approvals, gate_results, stage_history, deployments, ledger. Views: production_now,
    production_holders, production_without_passing_eval,
    production_without_second_approver, entries_without_owner, approvals_due_for_review.
    Macros: production_at(TIME), downstream_of(ENTRY, VERSION).

    \b
    Example:
      registry sql "SELECT * FROM production_at('2026-11-01T09:00:00Z')"
    """
    from registry_pipeline.exports import inventory as inv

    root = inv.inventory_root(inventory)
    if not no_refresh:
        inv.ensure_current(settings.local_registry("sql"), root)
    columns, rows = inv.query(root, query)
    cells = [[out.cell(v) for v in row] for row in rows]
    emit(
        settings,
        {"columns": columns, "rows": cells},
        lambda: out.table(columns, [[out.text(v) for v in row] for row in cells]),
    )
