"""The ``registry`` group, its global options and the settings every command receives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from registry_pipeline.cli import _output

if TYPE_CHECKING:
    from registry_pipeline.service import Registry

DEFAULT_DATABASE = "sqlite:///.registry/registry.db"
REQUEST_ID = click.IntRange(min=1, max=2**63 - 1)


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
    _output.state["json"] = as_json
    ctx.obj = Settings(database, actor, as_json)
