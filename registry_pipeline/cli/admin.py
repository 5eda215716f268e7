"""Commands that set the registry up or bring data in: init, keys, db, import."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note
from registry_pipeline.errors import BadInput


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
    from registry_pipeline import settings as config

    url = config.server_url(settings.url)
    if url is not None:
        if catalog is None:
            raise BadInput(
                "registry init with a server needs --catalog PATH (the server holds the database)"
            )
        remote = settings.registry()
        changed = remote.record_catalog_file(catalog).to_dict()  # type: ignore[union-attr]
        state = "loaded" if changed["changed"] else "unchanged"
        emit(
            settings,
            {"database": url, **changed},
            f"registry ready at {url}: {changed['entries']} entries, catalog "
            f"{changed['catalog'][:12]} {state}",
        )
        return
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

    registry = settings.local_registry("import mlflow")
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
