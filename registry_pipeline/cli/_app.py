"""The ``registry`` group, its global options and the settings every command receives."""

from __future__ import annotations

import functools
import gc
from typing import TYPE_CHECKING

import click

from registry_pipeline.cli import _output

if TYPE_CHECKING:
    from registry_pipeline.client import RemoteRegistry
    from registry_pipeline.service import Registry

DEFAULT_DATABASE = "sqlite:///.registry/registry.db"
REQUEST_ID = click.IntRange(min=1, max=2**63 - 1)


class Settings:
    """Global options, shared by every command through the click context."""

    def __init__(
        self, database: str, actor: str | None, as_json: bool, url: str | None = None
    ) -> None:
        self.database = database
        self.actor = actor
        self.as_json = as_json
        self.url = url

    def registry(self) -> Registry | RemoteRegistry:
        """The registry server named by ``--url`` (acting as its token's principal), else
        the database named by ``--database``.

        Raises:
            BadInput: ``--actor`` together with a server: the server decides who acts.
        """
        from registry_pipeline import settings

        url = settings.server_url(self.url)
        if url is not None:
            from registry_pipeline.client import RemoteRegistry
            from registry_pipeline.errors import BadInput

            if self.actor:
                raise BadInput(
                    "--actor (REGISTRY_ACTOR) cannot be used with a registry server: it acts "
                    "as the principal of your token; unset it"
                )
            _imported()
            return RemoteRegistry(url, token=settings.token(url))
        return self.local_registry()

    def local_registry(self, what: str | None = None) -> Registry:
        """The database named by ``--database`` (``what`` needs the database itself).

        Raises:
            BadInput: ``what`` was asked of a registry server.
        """
        from registry_pipeline import settings
        from registry_pipeline.service import Registry

        if what is not None and settings.server_url(self.url) is not None:
            from registry_pipeline.errors import BadInput

            raise BadInput(
                f"`registry {what}` reads the database itself; run it where the database is "
                "(without REGISTRY_URL)"
            )
        _imported()
        return Registry.open(self.database, actor=self.actor)


@functools.cache
def _imported() -> None:
    """Leave what the imports made out of garbage collection from here on (once a process).

    A command runs once and exits; the modules, classes and functions its imports created
    live until then, and the collection at exit would walk every one of them (about 50 ms
    after SQLAlchemy). What the command itself creates (the store's connections, its
    answers) is still collected as before, so connections close at exit as they did.
    """
    gc.freeze()


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
@click.option(
    "--url",
    envvar="REGISTRY_URL",
    default=None,
    metavar="URL",
    help="A registry server to act through (env REGISTRY_URL), with your token.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.version_option(package_name="registry-pipeline", prog_name="registry")
@click.pass_context
def cli(
    ctx: click.Context, database: str, actor: str | None, url: str | None, as_json: bool
) -> None:
    """A governed model registry: versions, lineage, evals, gated promotion, audit.

    \b
    Example:
      registry init --catalog catalog.yaml
      registry register support-lora ./out --upstream llama-3-8b-instruct@1
      registry promote support-lora@1 --to staging --reason "eval passed"
    """
    _output.state["json"] = as_json
    ctx.obj = Settings(database, actor, as_json, url)
