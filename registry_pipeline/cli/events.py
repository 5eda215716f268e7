"""Commands for the systems around the registry: events, webhooks add|list|remove|enable|
deliveries|redeliver."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note

ID = click.IntRange(min=1, max=2**63 - 1)
LONG_POLL = 25.0
LOCAL_POLL = 0.25


def _line(settings: Settings, event: dict[str, Any]) -> None:
    if settings.as_json:
        click.echo(json.dumps(event, sort_keys=True, default=str))
        return
    click.echo(
        f"{event['seq']}  {event['recorded_at']}  {event['principal']}  {event['type']}  "
        f"{event['subject']}"
    )


@cli.command()
@click.option("--after", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--follow", is_flag=True, help="Keep printing new events as they commit.")
@pass_settings
def events(settings: Settings, after: int, limit: int, follow: bool) -> None:
    """Print ledger events after seq --after, oldest first: one line each, or one JSON
    object a line with --json. With --follow, wait for new events (a long poll against a
    server) until interrupted; keep the last seq to resume without a gap.

    \b
    Example:
      registry events --after 1200 --follow
      registry --json events --after 1200 | jq -r .type
    """
    registry = settings.registry()
    remote = hasattr(registry, "url")
    cursor = after
    try:
        while True:
            if remote and follow:
                feed = registry.events(after=cursor, limit=limit, wait=LONG_POLL).to_dict()  # type: ignore[call-arg]
            else:
                feed = registry.events(after=cursor, limit=limit).to_dict()
            for event in feed["events"]:
                _line(settings, event)
            cursor = feed["cursor"]
            if not follow and len(feed["events"]) < limit:
                return
            if not feed["events"] and not remote:
                time.sleep(LOCAL_POLL)
    except KeyboardInterrupt:
        note(f"stopped after event {cursor}; resume with --after {cursor}")


@cli.group()
def webhooks() -> None:
    """Webhooks: ledger events POSTed to other systems, signed, in order, at least once."""


def _webhook_rows(rows: list[dict[str, Any]]) -> str:
    header = ("ID", "STATUS", "URL", "EVENTS", "FILTER", "DELIVERED", "FAILURES")
    body = [
        (
            str(r["id"]),
            r["status"],
            r["url"],
            ",".join(r["events"]),
            (f"entry:{r['entry']}" if r["entry"] else "")
            + (f"workload:{r['workload']}" if r["workload"] else "")
            or "-",
            str(r["delivered_seq"]),
            str(r["failures"]),
        )
        for r in rows
    ]
    return out.table(header, body)


@webhooks.command(name="add")
@click.argument("url")
@click.option(
    "--events",
    "types",
    required=True,
    metavar="TYPE[,TYPE...]",
    help="Event types: promotion.apply, stage.rollback, promotion.*, * ...",
)
@click.option("--entry", default=None, help="Only events about this entry.")
@click.option("--workload", default=None, help="Only events about this workload's stack.")
@pass_settings
def webhooks_add(
    settings: Settings, url: str, types: str, entry: str | None, workload: str | None
) -> None:
    """Subscribe URL to ledger events (admins); prints the signing secret once.

    Each delivery is a POST of {type, seq, recorded_at, principal, subject, data} with
    Standard Webhooks headers (webhook-id evt_SEQ, webhook-timestamp, webhook-signature).

    \b
    Example:
      registry webhooks add https://deploy.example.com/hooks/registry \\
        --events promotion.apply,stage.rollback --workload customer-support
    """
    created = settings.registry().webhooks.add(
        url, events=types.split(","), entry=entry, workload=workload
    )
    data = created.to_dict()
    note(
        f"webhook {data['id']} sends {','.join(data['events'])} to {data['url']}; its "
        "signing secret is shown only now"
    )
    emit(settings, data, data["secret"])


@webhooks.command(name="list")
@pass_settings
def webhooks_list(settings: Settings) -> None:
    """List webhooks with their progress (the last event delivered) and failures.

    \b
    Example:
      registry webhooks list
    """
    rows = [w.to_dict() for w in settings.registry().webhooks.list()]
    emit(settings, {"webhooks": rows}, lambda: _webhook_rows(rows))


@webhooks.command(name="remove")
@click.argument("webhook", metavar="ID", type=ID)
@pass_settings
def webhooks_remove(settings: Settings, webhook: int) -> None:
    """Stop a webhook for good (its delivery log is kept).

    \b
    Example:
      registry webhooks remove 3
    """
    data = settings.registry().webhooks.remove(webhook).to_dict()
    emit(settings, data, f"webhook {data['id']} removed")


@webhooks.command(name="enable")
@click.argument("webhook", metavar="ID", type=ID)
@pass_settings
def webhooks_enable(settings: Settings, webhook: int) -> None:
    """Start a webhook that was disabled after a day of failures, from where it stopped.

    \b
    Example:
      registry webhooks enable 3
    """
    data = settings.registry().webhooks.enable(webhook).to_dict()
    emit(settings, data, f"webhook {data['id']} active after event {data['delivered_seq']}")


@webhooks.command(name="deliveries")
@click.argument("webhook", metavar="ID", type=ID)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@pass_settings
def webhooks_deliveries(settings: Settings, webhook: int, limit: int) -> None:
    """Every attempt to deliver to a webhook, newest first: time, event, status code,
    latency and error.

    \b
    Example:
      registry webhooks deliveries 3 --limit 20
    """
    rows = [d.to_dict() for d in settings.registry().webhooks.deliveries(webhook, limit=limit)]

    def text() -> str:
        header = ("ID", "TIME", "EVENT", "ATTEMPT", "STATUS", "MS", "RESULT")
        body = [
            (
                str(r["id"]),
                r["attempted_at"],
                r["webhook_id"],
                f"{r['attempt']}{' (redelivery)' if r['redelivery'] else ''}",
                str(r["status_code"] or "-"),
                f"{r['latency_ms']:.1f}",
                "ok" if r["ok"] else r["error"] or "failed",
            )
            for r in rows
        ]
        return out.table(header, body)

    emit(settings, {"deliveries": rows}, text)


@webhooks.command(name="redeliver")
@click.argument("delivery", metavar="DELIVERY_ID", type=ID)
@pass_settings
def webhooks_redeliver(settings: Settings, delivery: int) -> None:
    """Send the event of a logged attempt to its webhook again, now (exit 4 when the
    receiver does not take it).

    \b
    Example:
      registry webhooks redeliver 1042
    """
    data = settings.registry().webhooks.redeliver(delivery).to_dict()
    result = "ok" if data["ok"] else data["error"]
    emit(settings, data, f"{data['webhook_id']} to webhook {data['webhook']}: {result}")
    if not data["ok"]:
        from registry_pipeline.cli import _errors
        from registry_pipeline.core.errors import Conflict

        raise SystemExit(_errors.code_for(Conflict))
