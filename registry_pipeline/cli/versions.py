"""Commands on versions: register, list, show, lineage, card."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note
from registry_pipeline.core.names import parse_pairs


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
    from registry_pipeline.inputs.training_config import TrainingConfig, read_training_config

    registry = settings.registry()
    if pin:
        if source or config or upstream:
            raise BadInput("a stack takes only --pin ENTRY@VERSION; drop SOURCE/--config")
        result = registry.register_stack(entry, list(pin))
    else:
        if source is None:
            raise BadInput(f"missing SOURCE: `registry register {entry} PATH` (a folder or a file)")
        training = read_training_config(config) if config else TrainingConfig()
        params = training.params
        pins = [*upstream, *training.upstream]
        with out.progress_bar() as progress:
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
                out.v(r["latest"]),
                out.v(r["staging"]),
                out.v(r["production"]),
                r["owner"],
            )
            for r in rows
        ]
        return out.table(header, body)

    emit(settings, {"entries": rows}, text)


@cli.command()
@click.option("--param", "pairs", multiple=True, metavar="KEY=VALUE", help="A params tag.")
@click.option("--metric", default=None, metavar="NAME", help="An eval metric to look for.")
@click.option("--min", "at_least", type=float, default=None, help="The metric at least.")
@click.option("--max", "at_most", type=float, default=None, help="The metric at most.")
@click.option("--suite", default=None, metavar="SUITE", help="Only evals of this suite.")
@click.option("--entry", default=None, metavar="ENTRY", help="Only versions of this entry.")
@click.option("--limit", type=int, default=1000, show_default=True, help="At most this many.")
@pass_settings
def search(
    settings: Settings,
    pairs: Sequence[str],
    metric: str | None,
    at_least: float | None,
    at_most: float | None,
    suite: str | None,
    entry: str | None,
    limit: int,
) -> None:
    """Find versions by params tag and eval metric, as of now (a version registered a
    moment ago is found). Tag values match as text: strings as they are, other values
    as JSON (0.001, true).

    \b
    Example:
      registry search --param dataset=tickets-2024q4 --metric accuracy --min 0.9
    """
    data = (
        settings.registry()
        .search(
            params=parse_pairs(pairs, what="--param"),
            metric=metric,
            at_least=at_least,
            at_most=at_most,
            suite=suite,
            entry=entry,
            limit=limit,
        )
        .to_dict()
    )

    def text() -> str:
        header = ("VERSION", "STAGE", "DIGEST", "REGISTERED", *(("METRIC",) if metric else ()))
        body = [
            (
                f"{r['entry']}@{r['version']}",
                r["stage"] or "-",
                r["digest"][:12],
                r["created_at"],
                *((f"{r['metric']:g}",) if metric else ()),
            )
            for r in data["versions"]
        ]
        more = f"\n(first {limit}; narrow the search or raise --limit)" if data["truncated"] else ""
        return (out.table(header, body) if body else "no version matches") + more

    emit(settings, data, text)


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
