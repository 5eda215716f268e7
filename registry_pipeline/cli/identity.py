"""Commands about who is acting: tokens create, tokens list, tokens revoke, whoami."""

from __future__ import annotations

import click

from registry_pipeline.cli import _output as out
from registry_pipeline.cli._app import Settings, cli, pass_settings
from registry_pipeline.cli._output import emit, note

TOKEN_ID = click.IntRange(min=1, max=2**63 - 1)


@cli.group()
def tokens() -> None:
    """Registry tokens: the credentials clients of `registry serve` present."""


@tokens.command(name="create")
@click.option("--principal", default=None, metavar="NAME", help="Who it stands for (default: you).")
@click.option("--name", "label", default="cli", show_default=True, help="A label to tell it by.")
@click.option("--expires-in", default="90d", show_default=True, help="Lifetime: 90d, 12h...")
@pass_settings
def tokens_create(settings: Settings, principal: str | None, label: str, expires_in: str) -> None:
    """Mint a token; prints its secret once (only its SHA-256 is kept).

    Admins mint tokens for anyone, everyone else only for themselves. The operator mints
    the first admin's token in local mode, on the machine that holds the database.

    \b
    Example:
      registry tokens create --principal carol@example.com --name laptop --expires-in 30d
    """
    created = settings.registry().tokens.create(
        principal=principal, name=label, expires_in=expires_in
    )
    data = created.to_dict()
    note(
        f"token {data['id']} for {data['principal']} expires {data['expires_at']}; "
        "it is shown only now: `registry login` saves it"
    )
    emit(settings, data, data["token"])


@tokens.command(name="list")
@pass_settings
def tokens_list(settings: Settings) -> None:
    """List tokens (an admin sees all, everyone else their own); never their secrets.

    \b
    Example:
      registry tokens list
    """
    rows = [t.to_dict() for t in settings.registry().tokens.list()]

    def text() -> str:
        header = ("ID", "PRINCIPAL", "NAME", "CREATED", "EXPIRES", "REVOKED")
        body = [
            (
                str(r["id"]),
                r["principal"],
                r["name"],
                r["created_at"],
                r["expires_at"] or "never",
                r["revoked_at"] or "-",
            )
            for r in rows
        ]
        return out.table(header, body)

    emit(settings, {"tokens": rows}, text)


@tokens.command(name="revoke")
@click.argument("token_id", metavar="ID", type=TOKEN_ID)
@pass_settings
def tokens_revoke(settings: Settings, token_id: int) -> None:
    """Revoke a token; the next request presenting it is refused.

    \b
    Example:
      registry tokens revoke 3
    """
    data = settings.registry().tokens.revoke(token_id).to_dict()
    emit(settings, data, f"token {token_id} of {data['principal']} revoked")


@cli.command()
@pass_settings
def whoami(settings: Settings) -> None:
    """Who the registry takes you for, how that was proven, and your roles.

    \b
    Example:
      registry whoami
    """
    data = settings.registry().whoami().to_dict()
    emit(
        settings,
        data,
        f"{data['principal']} ({data['auth']['method']}): "
        + (", ".join(data["roles"]) or "no roles"),
    )


@cli.command()
@click.option("--url", "server", required=True, metavar="URL", help="The registry server.")
@click.option(
    "--token",
    "secret",
    default=None,
    help="The token (default: read from stdin, so it stays out of shell history).",
)
@pass_settings
def login(settings: Settings, server: str, secret: str | None) -> None:
    """Check a token against a registry server and save it for the CLI (file mode 0600).

    \b
    Example:
      registry login --url https://registry.internal < carol.token
    """
    import json
    import sys

    from registry_pipeline import settings as config
    from registry_pipeline.atomic_files import write_atomically
    from registry_pipeline.client import RemoteRegistry
    from registry_pipeline.errors import BadInput

    url = config.server_url(server)
    if url is None:
        raise BadInput(
            "--url is empty; pass the registry server's URL, e.g. https://registry.internal"
        )
    token = (secret or sys.stdin.readline()).strip()
    remote = RemoteRegistry(url, token=token)
    try:
        me = remote.whoami().to_dict()
    finally:
        remote.close()
    path = config.credentials_path()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    saved[url] = token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, json.dumps(saved, indent=2, sort_keys=True) + "\n", mode=0o600)
    emit(
        settings,
        {"url": url, "principal": me["principal"], "credentials": str(path)},
        f"logged in to {url} as {me['principal']}; token saved in {path}",
    )
