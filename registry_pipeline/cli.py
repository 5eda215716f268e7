"""The ``registry`` command: a thin shell over :class:`registry_pipeline.service.Registry`.

Imports of the service (SQLAlchemy, pydantic) happen inside commands so that
``registry --help`` answers fast. Every known error is printed as one line on stderr with
the contract's exit code; ``--json`` makes stdout one JSON document.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from registry_pipeline.service import Registry

DEFAULT_DATABASE = "sqlite:///.registry/registry.db"
REQUEST_ID = click.IntRange(min=1, max=2**63 - 1)
_state: dict[str, Any] = {"json": False}


class Settings:
    """Global options, shared by every command through the click context."""

    def __init__(self, database: str, actor: str | None, as_json: bool) -> None:
        self.database = database
        self.actor = actor
        self.as_json = as_json

    def registry(self) -> Registry:
        """Open the registry named by ``--database``."""
        from registry_pipeline.service import Registry

        return Registry.open(self.database, actor=self.actor)


pass_settings = click.make_pass_decorator(Settings)


def emit(settings: Settings, data: Any, text: str | Callable[[], str]) -> None:
    """Write ``data`` as JSON with ``--json``, else the human ``text``."""
    if settings.as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text() if callable(text) else text)


def note(message: str) -> None:
    """A message for people: stderr, one line."""
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--database",
    envvar="REGISTRY_DATABASE_URL",
    default=DEFAULT_DATABASE,
    show_default=True,
    metavar="URL",
    help="Registry database (env REGISTRY_DATABASE_URL).",
)
@click.option(
    "--actor",
    envvar="REGISTRY_ACTOR",
    default=None,
    metavar="NAME",
    help="Who is acting (env REGISTRY_ACTOR; default: the OS user).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.version_option(package_name="registry-pipeline", prog_name="registry")
@click.pass_context
def cli(ctx: click.Context, database: str, actor: str | None, as_json: bool) -> None:
    """A governed model registry: versions, lineage, evals, gated promotion, audit.

    \b
    Example:
      registry init --catalog catalog.yaml
      registry register support-lora ./out --upstream llama-3-8b-instruct@1
      registry promote support-lora@1 --to staging --reason "eval passed"
    """
    _state["json"] = as_json
    ctx.obj = Settings(database, actor, as_json)


@cli.command()
@click.option(
    "--catalog",
    envvar="REGISTRY_CATALOG",
    type=click.Path(),
    default=None,
    help="Catalog YAML file or folder (env REGISTRY_CATALOG).",
)
@pass_settings
def init(settings: Settings, catalog: str | None) -> None:
    """Create the registry (or upgrade it) and load the catalog.

    Loading a changed catalog again records it in the ledger.

    \b
    Example:
      registry init --catalog examples/catalog.yaml
    """
    from registry_pipeline.service import Registry

    _, initialised = Registry.init(settings.database, catalog=catalog, actor=settings.actor)
    summary = initialised.to_dict()
    if catalog is None:
        note("no catalog loaded; run `registry init --catalog PATH` to declare entries")
    state = "loaded" if summary.get("changed") else "unchanged"
    emit(
        settings,
        summary,
        f"registry ready at {settings.database}: {summary['entries']} entries"
        + (f", catalog {summary['catalog'][:12]} {state}" if summary.get("catalog") else ""),
    )


@cli.command()
@click.argument("entry")
@click.argument("source", required=False, type=click.Path())
@click.option("--config", type=click.Path(), help="YAML/JSON with `params` and `upstream`.")
@click.option("--upstream", multiple=True, metavar="ENTRY@VERSION", help="Exact upstream.")
@click.option("--pin", multiple=True, metavar="ENTRY@VERSION", help="Stack component pin.")
@click.option("--rehash", is_flag=True, help="Read every file again; ignore the stat cache.")
@pass_settings
def register(
    settings: Settings,
    entry: str,
    source: str | None,
    config: str | None,
    upstream: Sequence[str],
    pin: Sequence[str],
    rehash: bool,
) -> None:
    """Register SOURCE (a folder or file) as a new version of ENTRY.

    Identical content returns the existing version. A stack pins exact versions of each
    of its components with --pin instead of a SOURCE.

    \b
    Example:
      registry register support-lora ./out --upstream llama-3-8b-instruct@1 \\
          --upstream support-tickets-2026q3@1 --config train.yaml
      registry register support-bot --pin support-lora@1 --pin support-prompt@2 ...
    """
    from registry_pipeline.errors import BadInput
    from registry_pipeline.service import read_document

    registry = settings.registry()
    if pin:
        if source or config or upstream:
            raise BadInput("a stack takes only --pin ENTRY@VERSION; drop SOURCE/--config")
        result = registry.register_stack(entry, list(pin))
    else:
        if source is None:
            raise BadInput(f"missing SOURCE: `registry register {entry} PATH` (a folder or a file)")
        params: dict[str, Any] = {}
        pins = list(upstream)
        if config:
            document = read_document(config, what="config file")
            if not isinstance(document, dict) or not set(document) <= {"params", "upstream"}:
                raise BadInput(
                    f"config file {config!r}: use a mapping with `params` (training config) "
                    "and `upstream` (list of ENTRY@VERSION)"
                )
            raw_params = document.get("params") or {}
            raw_upstream = document.get("upstream") or []
            if not isinstance(raw_params, dict):
                raise BadInput(f"config file {config!r}: params must be a mapping")
            if not isinstance(raw_upstream, list) or not all(
                isinstance(u, str) for u in raw_upstream
            ):
                raise BadInput(f"config file {config!r}: upstream is a list of ENTRY@VERSION")
            params = raw_params
            pins += raw_upstream
        with _progress_bar() as progress:
            result = registry.register(
                entry, source, params=params, upstream=pins, rehash=rehash, progress=progress
            )
    data = result.to_dict()
    for warning in result.warnings:
        note(f"warning: {warning}")
    if not result.created:
        note(f"{result.entry}@{result.version} already has this content; nothing new recorded")
    emit(settings, data, f"{result.entry}@{result.version} {result.digest}")


@cli.command(name="list")
@click.option("--kind", default=None, help="Only entries of this kind.")
@pass_settings
def list_(settings: Settings, kind: str | None) -> None:
    """List catalog entries with their versions and stage holders.

    \b
    Example:
      registry list --kind lora_adapter
    """
    rows = [r.to_dict() for r in settings.registry().list_entries(kind=kind)]

    def text() -> str:
        header = ("ENTRY", "KIND", "VERSIONS", "LATEST", "STAGING", "PRODUCTION", "OWNER")
        body = [
            (
                r["entry"],
                r["kind"],
                str(r["versions"]),
                _v(r["latest"]),
                _v(r["staging"]),
                _v(r["production"]),
                r["owner"],
            )
            for r in rows
        ]
        return _table(header, body)

    emit(settings, {"entries": rows}, text)


@cli.command()
@click.argument("ref", metavar="ENTRY[@VERSION|@STAGE]")
@pass_settings
def show(settings: Settings, ref: str) -> None:
    """Show a version: digest, stage, lineage, evals, card.

    \b
    Example:
      registry show support-lora@production
    """
    data = settings.registry().show(ref).to_dict()

    def text() -> str:
        lines = [
            f"{data['entry']}@{data['version']}  ({data['kind']}, {data['stage']})",
            f"digest      {data['digest']}",
            f"size        {data['size']} bytes in {data['file_count']} files",
            f"registered  {data['created_at']} by {data['created_by']}",
            f"source      {data['source']}",
        ]
        if data["params"]:
            lines.append(f"params      {json.dumps(data['params'], sort_keys=True)}")
        for u in data["lineage"]:
            lines.append(f"upstream    {u['entry']}@{u['version']} ({u['relation']})")
        for e in data["evals"]:
            metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(e["metrics"].items()))
            lines.append(f"eval        {e['suite']}@{e['suite_version']}: {metrics}")
        lines.append("card        " + ("set" if data["card"] else "not set"))
        return "\n".join(lines)

    emit(settings, data, text)


@cli.command()
@click.argument("ref", metavar="ENTRY@VERSION")
@pass_settings
def lineage(settings: Settings, ref: str) -> None:
    """Show the upstream tree and direct downstream of a version.

    \b
    Example:
      registry lineage support-bot@3
    """
    data = settings.registry().lineage(ref).to_dict()

    def text() -> str:
        lines = [f"{data['entry']}@{data['version']} {data['digest'][:12]}"]

        def walk(nodes: list[dict[str, Any]], depth: int) -> None:
            for n in nodes:
                lines.append(
                    f"{'  ' * depth}<- {n['entry']}@{n['version']} "
                    f"({n['kind']}, {n['relation']}) {n['digest'][:12]}"
                )
                walk(n["upstream"], depth + 1)

        walk(data["upstream"], 1)
        for d in data["downstream"]:
            lines.append(f"  -> {d['entry']}@{d['version']} ({d['relation']})")
        return "\n".join(lines)

    emit(settings, data, text)


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


@cli.command()
@click.argument("ref", metavar="ENTRY@VERSION")
@click.option(
    "--set",
    "set_file",
    type=click.Path(),
    help="Card to set: YAML/JSON fields, or a Hugging Face README.md.",
)
@pass_settings
def card(settings: Settings, ref: str, set_file: str | None) -> None:
    """Print a version's model card (Markdown), or set it with --set FILE.

    FILE is a YAML/JSON mapping of card fields (intended_use, limitations, training_data,
    ...) or a Hugging Face model card (README.md): its front matter and Markdown are kept,
    and its template sections (Direct Use, Out-of-Scope Use, Bias, Risks, and
    Limitations, Training Data, Evaluation, ...) become the card fields.

    \b
    Example:
      registry card support-lora@3 --set card.yaml
      registry card support-lora@3 --set README.md
    """
    registry = settings.registry()
    if set_file:
        data = registry.set_card(ref, set_file).to_dict()
        read = "; ".join(
            f"{name} from {', '.join(titles)}" for name, titles in data.get("sections", {}).items()
        )
        emit(
            settings,
            data,
            f"card set for {data['entry']}@{data['version']}" + (f" ({read})" if read else ""),
        )
        return
    shown = registry.card(ref).to_dict()
    emit(settings, shown, lambda: shown["markdown"].rstrip())


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
      registry --actor bob@example.com approve 7 --reason "reviewed evals and card"
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
    data = settings.registry().resolve(workload, at=at).to_dict()

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
        return _table(header, body)

    emit(settings, {"entry": entry, "history": rows}, text)


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
    sys.exit(4)


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

    data = export(settings.registry(), fmt, out)
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
    registry = settings.registry()
    if not no_refresh and inv.published_seq(root) != registry.ledger_head().seq:
        inv.build(registry, root)
    columns, rows = inv.query(root, query)
    cells = [[_cell(v) for v in row] for row in rows]
    emit(
        settings,
        {"columns": columns, "rows": cells},
        lambda: _table(columns, [[_text(v) for v in row] for row in cells]),
    )


def _cell(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, int | float | str | bool | list | dict) or value is None:
        return value
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


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
                _text(r["age_days"]) or "never",
                f"{r['limit_days']:g}",
                r["since"] or "-",
            )
            for r in rows
        ]
        return _table(header, body)

    emit(settings, {"due": rows}, text)


@cli.group()
def keys() -> None:
    """Approval signing keys."""


@keys.command(name="generate")
@click.option("--out", required=True, type=click.Path(), help="Where to write the private key.")
@pass_settings
def keys_generate(settings: Settings, out: str) -> None:
    """Make an Ed25519 key pair; prints the public key for the policy's approver_keys.

    \b
    Example:
      registry keys generate --out ~/.registry/alice.pem
    """
    from pathlib import Path

    from registry_pipeline import signatures

    public = signatures.generate(Path(out))
    note(f"private key written to {out} (mode 0600); add the public key to approver_keys")
    emit(settings, {"private_key": out, "public_key": public}, public)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command()
@pass_settings
def upgrade(settings: Settings) -> None:
    """Apply pending schema migrations.

    \b
    Example:
      registry db upgrade
    """
    from registry_pipeline.store import Store
    from registry_pipeline.store.engine import make_engine

    applied = Store(make_engine(settings.database), settings.database).upgrade()
    names = [f"{m.version}: {m.name}" for m in applied]
    emit(
        settings,
        {"applied": names},
        "schema is current" if not names else "applied " + "; ".join(names),
    )


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A bytes/rate/ETA bar on stderr for large sources, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 64 << 20:
            bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="hashing",
                file=sys.stderr,
                leave=False,
            )
        if bar is not None:
            bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


@db.command(name="copy")
@click.option("--from", "source", required=True, metavar="URL", help="The registry to copy.")
@click.option("--to", "target", required=True, metavar="URL", help="A new, empty database.")
@pass_settings
def db_copy(settings: Settings, source: str, target: str) -> None:
    """Copy a registry to another database (e.g. SQLite to PostgreSQL), chain intact.

    The copy is one transaction on the target and is verified before it commits: the
    ledger head is identical on both sides.

    \b
    Example:
      registry db copy --from sqlite:///.registry/registry.db \\
          --to postgresql+psycopg2://registry@db.internal/registry
    """
    from registry_pipeline.store import Store
    from registry_pipeline.store.copy import copy_registry

    copied = copy_registry(Store.open(source), Store.open(target, create=True))
    emit(
        settings,
        {"rows": copied.rows, "events": copied.events, "head": copied.head},
        f"copied {sum(copied.rows.values())} rows; ledger verified: "
        f"{copied.events} events, head {copied.head}",
    )


@cli.group(name="import")
def import_() -> None:
    """Bring versions and stage holders from another model registry."""


@import_.command(name="mlflow")
@click.option(
    "--tracking-uri",
    required=True,
    envvar="MLFLOW_TRACKING_URI",
    metavar="URI",
    help="MLflow tracking store, e.g. sqlite:///mlflow.db (env MLFLOW_TRACKING_URI).",
)
@click.option(
    "--registry-uri",
    default=None,
    envvar="MLFLOW_REGISTRY_URI",
    metavar="URI",
    help="MLflow model registry when it is not the tracking store (env MLFLOW_REGISTRY_URI).",
)
@click.option(
    "--write-catalog",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="Draft entries for the models the catalog lacks into PATH (a new file); import nothing.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only this MLflow model (its MLflow name or its entry name); repeatable.",
)
@pass_settings
def import_mlflow_(
    settings: Settings,
    tracking_uri: str,
    registry_uri: str | None,
    write_catalog: str | None,
    models: Sequence[str],
) -> None:
    """Import MLflow registered models: their versions, then who holds staging/production.

    Each model maps to the catalog entry named by its lowercased name, with characters
    outside a-z 0-9 . _ - turned into '-'; that entry must already be in the catalog.
    Aliases champion/production and challenger/staging name the holders and win over
    MLflow's deprecated stages. Every ledger event is marked imported with its MLflow
    origin. Running it again records nothing new.

    \b
    Example:
      registry import mlflow --tracking-uri sqlite:///mlflow.db --write-catalog new.yaml
      registry import mlflow --tracking-uri sqlite:///mlflow.db --model "Fraud Detector"
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from registry_pipeline.importers.mlflow import import_mlflow, write_catalog_snippet

    registry = settings.registry()
    selected = list(models) or None
    if write_catalog:
        names = write_catalog_snippet(
            registry,
            write_catalog,
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
            models=selected,
        )
        emit(
            settings,
            {"catalog_snippet": write_catalog, "entries": names},
            f"drafted {len(names)} entries in {write_catalog}: review them, add them to the "
            "catalog, `registry init --catalog CATALOG`, then import again"
            if names
            else f"every MLflow model already has an entry; {write_catalog} drafts none",
        )
        return
    report = import_mlflow(
        registry, tracking_uri=tracking_uri, registry_uri=registry_uri, models=selected
    )
    for warning in report.warnings:
        note(f"warning: {warning}")
    emit(settings, report.to_dict(), report.summary)


def _v(number: int | None) -> str:
    return f"v{number}" if number else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    )


def _fail(message: str, code: int, data: dict[str, Any] | None = None) -> NoReturn:
    if _state["json"] and data is not None:
        click.echo(json.dumps(data, sort_keys=True, default=str))
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map every known error to one line and an exit code."""
    from click.exceptions import Abort, ClickException, Exit, UsageError

    try:
        cli.main(args=argv, prog_name="registry", standalone_mode=False)
    except Exit as e:
        sys.exit(e.exit_code)
    except UsageError as e:
        command = e.ctx.command_path if e.ctx else "registry"
        _fail(
            f"{e.format_message().rstrip('.')}; see `{command} --help`",
            2,
            {"error": "UsageError", "message": e.format_message()},
        )
    except ClickException as e:
        _fail(e.format_message(), e.exit_code)
    except Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        _fail("interrupted; nothing was half-written (every change is one transaction)", 130)
    except Exception as e:
        from registry_pipeline.errors import RegistryError

        if isinstance(e, RegistryError):
            _fail(str(e), e.exit_code, e.to_dict())
        if os.environ.get("REGISTRY_DEBUG"):
            raise
        _fail(
            f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
            "(set REGISTRY_DEBUG=1 for the traceback)",
            1,
            {"error": "InternalError", "message": str(e)},
        )


if __name__ == "__main__":
    main()
