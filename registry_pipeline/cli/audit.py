"""Commands for auditors and analysts: audit verify, audit anchor, export, sql."""

from __future__ import annotations

import sys

import click

from registry_pipeline.cli import _errors
from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note
from registry_pipeline.core.errors import Conflict


@cli.group()
def audit() -> None:
    """Tamper evidence: the hash-chained ledger."""


@audit.command()
@click.option("--anchor", default=None, metavar="SEQ:HASH", help="An anchor taken earlier.")
@pass_settings
def verify(settings: Settings, anchor: str | None) -> None:
    """Recompute the ledger's hash chain; exit 4 naming the first broken event.

    With --anchor (from `registry audit anchor`, kept outside the registry), also prove the
    history up to that anchor was not rewritten.

    \b
    Example:
      registry audit verify --anchor 1207:5f1c...e9
    """
    data = settings.registry().verify(anchor=anchor).to_dict()
    if data["ok"]:
        emit(settings, data, f"ledger ok: {data['events']} events, head {data['head']}")
        return
    emit(settings, data, f"ledger BROKEN at event {data['broken_at']}")
    note(f"error: ledger broken at event {data['broken_at']}: {data['problem']}")
    sys.exit(_errors.code_for(Conflict))  # the stored state contradicts itself


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
