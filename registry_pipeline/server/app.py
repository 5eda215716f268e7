"""The registry server: the HTTP API over the service layer, the only writer of the store.

Every request is authenticated (``Authorization: Bearer`` with a registry token), acts as
that principal and no one else (headers naming a user are never read), and answers errors
as RFC 9457 problems. ``/healthz`` is the one route open to anyone.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from registry_pipeline._collector import freeze_what_is_loaded
from registry_pipeline.server import _errors, web
from registry_pipeline.server._middleware import BodyLimit, Metrics, RateLimit, RequestLog
from registry_pipeline.server.deps import ServerState
from registry_pipeline.server.hot import HotPaths
from registry_pipeline.server.oidc import OIDCConfig, OIDCVerifier
from registry_pipeline.server.responses import Health, ok
from registry_pipeline.server.routes import admin, events, ledger, promotion, versions
from registry_pipeline.server.schemas import API, PROBLEMS, problem_media_type
from registry_pipeline.service.dispatch import DispatchConfig, Dispatcher
from registry_pipeline.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server runs: its database and its limits."""

    database: str
    deployments: str | None = None
    rate_per_minute: int = 600
    """Requests one principal may make per minute before 429."""
    oidc: OIDCConfig | None = None
    """The identity provider whose JWTs are accepted besides registry tokens."""
    dispatch: DispatchConfig | None = None
    """Deliver webhooks from this process (while it holds the dispatcher lease)."""
    dagster_url: str | None = None
    """The Dagster web UI the pages link lineage to."""
    checkpoint_key: str | None = None
    """The Ed25519 key file (PEM) that signs the ledger's checkpoints."""
    checkpoint_origin: str = "registry-pipeline"
    """The checkpoints' origin line and key name: one per registry, stable."""


@dataclass(frozen=True, slots=True)
class CheckpointSigner:
    """The key that signs checkpoints, under the registry's origin."""

    origin: str
    key: Any
    verifier_key: str

    @classmethod
    def load(cls, path: str, origin: str) -> "CheckpointSigner":
        """Read the key; refuse an origin that cannot be a key name."""
        from pathlib import Path

        from registry_pipeline import signatures
        from registry_pipeline.core.checkpoints import valid_name
        from registry_pipeline.core.errors import BadInput

        if not valid_name(origin) or len(origin) > 200:
            raise BadInput(f"checkpoint origin {origin[:40]!r} must be non-empty, no spaces or +")
        key = signatures.load_private(Path(path))
        return cls(origin=origin, key=key, verifier_key=signatures.verifier_key_of(key, origin))


def create_app(config: ServerConfig, store: Store | None = None) -> FastAPI:
    """The API over ``store`` (opened from ``config.database`` when not given)."""
    shared = ServerState(
        open_store=(lambda: store) if store is not None else (lambda: Store.open(config.database)),
        limiter=RateLimit(config.rate_per_minute),
        verifier=OIDCVerifier(config.oidc) if config.oidc else None,
        deployments=config.deployments,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        dispatcher = Dispatcher(shared.store(), config.dispatch) if config.dispatch else None
        if dispatcher is not None:
            dispatcher.start()
        _app.state.dispatcher = dispatcher
        freeze_what_is_loaded()  # the modules, routes and models live as long as we do
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="registry-pipeline",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=PROBLEMS,
    )
    app.state.registry = shared
    app.state.checkpoints = (
        CheckpointSigner.load(config.checkpoint_key, config.checkpoint_origin)
        if config.checkpoint_key
        else None
    )
    metrics = Metrics(
        shared.store,
        lambda: bool(getattr(getattr(app.state, "dispatcher", None), "dispatching", False)),
    )

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Requests, latency, errors and the ledger head, in Prometheus' text format."""
        body, media_type = metrics.render()
        return Response(body, media_type=media_type)

    @app.get("/healthz", response_model=None, responses=ok(Health))
    def healthz() -> dict[str, Any]:
        """Liveness and the ledger head; needs no token."""
        seq, _ = shared.store().head_key()  # one statement: probes call this often
        return {"ok": True, "ledger_seq": seq}

    _errors.install(app, web.page_error)
    for routes in (admin, versions, promotion, events, ledger):
        app.include_router(routes.router, prefix=API)
    web.install(app, dagster_url=config.dagster_url)
    app.add_middleware(HotPaths, shared=shared)  # inside the log: counted, given an id
    app.add_middleware(RequestLog, api=app, metrics=metrics)
    app.add_middleware(BodyLimit)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_type(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory``: the database from ``REGISTRY_DATABASE_URL``."""
    from registry_pipeline import settings

    issuer, audience = settings.oidc_issuer(), settings.oidc_audience()
    oidc = (
        OIDCConfig(
            issuer=issuer,
            audience=audience or "",
            principal_claim=settings.oidc_principal_claim(),
            client_id=settings.oidc_client_id(),
            client_secret=settings.oidc_client_secret(),
        )
        if issuer
        else None
    )
    retry, give_up = settings.webhook_retry(), settings.webhook_give_up()
    dispatch = DispatchConfig(allow_private=settings.allow_private_webhooks())
    if retry:
        dispatch = replace(dispatch, retry=tuple(timedelta(seconds=s) for s in retry))
    if give_up:
        dispatch = replace(dispatch, give_up=timedelta(seconds=give_up))
    return create_app(
        ServerConfig(
            database=settings.database_url(),
            oidc=oidc,
            rate_per_minute=settings.rate_limit(),
            dispatch=dispatch,
            dagster_url=settings.dagster_url(),
            checkpoint_key=settings.checkpoint_key_file(),
            checkpoint_origin=settings.checkpoint_origin(),
        )
    )
