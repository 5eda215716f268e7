"""``registry serve``: run the registry server over the database the CLI would open."""

from __future__ import annotations

import os

import click

from registry_pipeline.cli._app import Settings, cli, pass_settings


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--rate-limit",
    envvar="REGISTRY_RATE_LIMIT",
    default=600,
    show_default=True,
    type=click.IntRange(1, 10**7),
    help="Requests one principal may make a minute, per worker, before 429 "
    "(env REGISTRY_RATE_LIMIT).",
)
@click.option(
    "--oidc-issuer",
    envvar="REGISTRY_OIDC_ISSUER",
    default=None,
    metavar="URL",
    help="Also accept this identity provider's JWTs (env REGISTRY_OIDC_ISSUER).",
)
@click.option(
    "--oidc-audience",
    envvar="REGISTRY_OIDC_AUDIENCE",
    default=None,
    metavar="AUD",
    help="The audience those JWTs must name (env REGISTRY_OIDC_AUDIENCE).",
)
@click.option(
    "--oidc-principal-claim",
    envvar="REGISTRY_OIDC_PRINCIPAL_CLAIM",
    default="email",
    show_default=True,
    help="The claim naming the principal.",
)
@click.option(
    "--oidc-client-id",
    envvar="REGISTRY_OIDC_CLIENT_ID",
    default=None,
    metavar="ID",
    help="The web UI logs people in through the identity provider as this client "
    "(env REGISTRY_OIDC_CLIENT_ID; its secret, if any, only from REGISTRY_OIDC_CLIENT_SECRET).",
)
@click.option(
    "--dagster-url",
    envvar="REGISTRY_DAGSTER_URL",
    default=None,
    metavar="URL",
    help="The Dagster web UI the pages link lineage to (env REGISTRY_DAGSTER_URL).",
)
@click.option(
    "--checkpoint-key",
    envvar="REGISTRY_CHECKPOINT_KEY_FILE",
    default=None,
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="Sign the ledger's checkpoints with this Ed25519 key (`registry keys generate`; "
    "env REGISTRY_CHECKPOINT_KEY_FILE).",
)
@click.option(
    "--checkpoint-origin",
    envvar="REGISTRY_CHECKPOINT_ORIGIN",
    default="registry-pipeline",
    show_default=True,
    metavar="NAME",
    help="The checkpoints' origin and key name: one per registry, e.g. its host name.",
)
@click.option(
    "--allow-private-webhooks",
    is_flag=True,
    envvar="REGISTRY_ALLOW_PRIVATE_WEBHOOKS",
    help="Let webhooks call loopback and private addresses (refused by default).",
)
@pass_settings
def serve(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    rate_limit: int,
    oidc_issuer: str | None,
    oidc_audience: str | None,
    oidc_principal_claim: str,
    oidc_client_id: str | None,
    dagster_url: str | None,
    checkpoint_key: str | None,
    checkpoint_origin: str,
    allow_private_webhooks: bool,
) -> None:
    """Serve the HTTP API (/api/v1) and the web UI (/) over --database; clients then
    present tokens, people log in.

    Put a TLS proxy in front of it for anything but localhost. Stateless: several workers,
    or several hosts on one PostgreSQL, may serve one registry; one of them at a time
    delivers webhooks.

    \b
    Example:
      registry --database postgresql+psycopg2://registry@db/registry serve --port 8080
    """
    import uvicorn

    from registry_pipeline.store import Store

    Store.open(settings.database).dispose()  # fail here, with the CLI's words, if absent
    os.environ["REGISTRY_DATABASE_URL"] = settings.database
    os.environ["REGISTRY_RATE_LIMIT"] = str(rate_limit)
    os.environ["REGISTRY_ALLOW_PRIVATE_WEBHOOKS"] = "1" if allow_private_webhooks else "0"
    if oidc_issuer:
        from registry_pipeline.server.oidc import OIDCConfig

        OIDCConfig(issuer=oidc_issuer, audience=oidc_audience or "")  # refuse a bad one now
        os.environ["REGISTRY_OIDC_ISSUER"] = oidc_issuer
        os.environ["REGISTRY_OIDC_AUDIENCE"] = oidc_audience or ""
        os.environ["REGISTRY_OIDC_PRINCIPAL_CLAIM"] = oidc_principal_claim
        if oidc_client_id:
            os.environ["REGISTRY_OIDC_CLIENT_ID"] = oidc_client_id
    if dagster_url:
        os.environ["REGISTRY_DAGSTER_URL"] = dagster_url
    if checkpoint_key:
        from registry_pipeline.server.app import CheckpointSigner

        CheckpointSigner.load(checkpoint_key, checkpoint_origin)  # refuse a bad one now
        os.environ["REGISTRY_CHECKPOINT_KEY_FILE"] = os.path.abspath(checkpoint_key)
    os.environ["REGISTRY_CHECKPOINT_ORIGIN"] = checkpoint_origin
    uvicorn.run(
        "registry_pipeline.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        http="registry_pipeline.server._protocol:NoDelayHTTPProtocol",
        server_header=False,
        proxy_headers=False,
    )
