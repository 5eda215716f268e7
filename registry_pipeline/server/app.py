"""The registry server: the HTTP API over the service layer, the only writer of the store.

Every request is authenticated (``Authorization: Bearer`` with a registry token), acts as
that principal and no one else (headers naming a user are never read), and answers errors
as RFC 9457 problems. ``/healthz`` is the one route open to anyone.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry_pipeline.core.errors import RegistryError, Step, Unauthenticated
from registry_pipeline.core.identity import Principal
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.times import format_time
from registry_pipeline.server import _errors
from registry_pipeline.server._middleware import (
    BodyLimit,
    Metrics,
    RateLimit,
    Throttled,
    methods_of,
)
from registry_pipeline.server.oidc import OIDCConfig, OIDCVerifier, looks_like_jwt
from registry_pipeline.server.schemas import (
    ID,
    NAME,
    PROBLEMS,
    REF,
    STAGE,
    CatalogBody,
    EvalsBody,
    PromoteBody,
    ReasonBody,
    RegisterBody,
    RollbackBody,
    StackBody,
    TokenBody,
    problem_media_type,
)
from registry_pipeline.service import Registry
from registry_pipeline.service import tokens as token_use_cases
from registry_pipeline.store import Store

API = "/api/v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server runs: its database and its limits."""

    database: str
    deployments: str | None = None
    rate_per_minute: int = 600
    """Requests one principal may make per minute before 429."""
    oidc: OIDCConfig | None = None
    """The identity provider whose JWTs are accepted besides registry tokens."""


def _etags(header: str) -> set[str]:
    """The entity tags of an ``If-None-Match`` header, each also in its weak form."""
    tags = {t.strip() for t in header.split(",") if t.strip()}
    return tags | {f"W/{t}" for t in tags if not t.startswith("W/")}


def create_app(config: ServerConfig, store: Store | None = None) -> FastAPI:
    """The API over ``store`` (opened from ``config.database`` when not given)."""
    opened: list[Store] = [store] if store is not None else []
    opening = threading.Lock()

    def the_store() -> Store:
        with opening:
            if not opened:
                opened.append(Store.open(config.database))
            return opened[0]

    limiter = RateLimit(config.rate_per_minute)
    verifier = OIDCVerifier(config.oidc) if config.oidc else None
    app = FastAPI(
        title="registry-pipeline",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=PROBLEMS,
    )
    metrics = Metrics(the_store)

    def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthenticated("no bearer token", step=Step.LOG_IN)
        secret = credentials.strip()
        if verifier is not None and looks_like_jwt(secret):
            found = verifier.verify(secret)
        else:
            found = token_use_cases.authenticate(the_store(), secret)
        limiter.check(found.name)
        return found

    def registry(who: Annotated[Principal, Depends(principal)]) -> Registry:
        return Registry(the_store(), principal=who, deployments=config.deployments)

    Reg = Annotated[Registry, Depends(registry)]

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[..., Any]) -> Response:
        ident = uuid.uuid4().hex
        started = time.perf_counter()
        response: Response = await call_next(request)
        response.headers["X-Request-Id"] = ident
        if response.status_code == 405:
            response.headers["Allow"] = ", ".join(methods_of(app, request.url.path))
        route = request.scope.get("route")
        metrics.observe(
            request.method,
            getattr(route, "path", "unmatched"),
            response.status_code,
            time.perf_counter() - started,
        )
        return response

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Requests, latency, errors and the ledger head, in Prometheus' text format."""
        body, media_type = metrics.render()
        return Response(body, media_type=media_type)

    @app.exception_handler(RegistryError)
    async def registry_error(_: Request, error: RegistryError) -> Response:
        status, body = _errors.error_problem(error)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, media_type=_errors.PROBLEM, headers=headers)

    @app.exception_handler(Throttled)
    async def throttled(_: Request, error: Throttled) -> Response:
        body = _errors.problem(429, "rate limit reached; retry later", code="TooManyRequests")
        return JSONResponse(
            body,
            status_code=429,
            media_type=_errors.PROBLEM,
            headers={"Retry-After": str(error.retry_after)},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return JSONResponse(
            _errors.problem(422, detail, code="BadInput"),
            status_code=422,
            media_type=_errors.PROBLEM,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        return JSONResponse(
            _errors.problem(error.status_code, str(error.detail), code="HTTPError"),
            status_code=error.status_code,
            media_type=_errors.PROBLEM,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def internal(_: Request, __: Exception) -> Response:
        return JSONResponse(
            _errors.problem(500, "internal error", code="InternalError"),
            status_code=500,
            media_type=_errors.PROBLEM,
        )

    @app.get("/healthz", include_in_schema=True)
    def healthz() -> dict[str, Any]:
        """Liveness and the ledger head; needs no token."""
        head = Registry(the_store(), actor="healthz").ledger_head()
        return {"ok": True, "ledger_seq": head.seq}

    @app.get(f"{API}/whoami")
    def whoami(reg: Reg) -> dict[str, Any]:
        """The caller, how it was authenticated, and its roles."""
        return reg.whoami().to_dict()

    @app.get(f"{API}/entries")
    def list_entries(reg: Reg, kind: Annotated[EntryKind | None, Query()] = None) -> Any:
        """Catalog entries with their versions and stage holders."""
        return {
            "entries": [e.to_dict() for e in reg.list_entries(kind=kind.value if kind else None)]
        }

    @app.post(f"{API}/versions", status_code=201)
    def register(reg: Reg, body: RegisterBody) -> Any:
        """Register a version from the client's inspection (its manifest digest is
        recomputed from its files); identical content answers the existing version."""
        from registry_pipeline.inspection import inspection_from_dict

        inspection = inspection_from_dict(body.inspection)
        result = reg.register_inspected(
            body.entry, inspection, params=body.params, upstream=body.upstream
        )
        return result.to_dict()

    @app.post(f"{API}/stacks", status_code=201)
    def register_stack(reg: Reg, body: StackBody) -> Any:
        """Register a stack version pinning an exact version of each component."""
        return reg.register_stack(body.stack, body.pins).to_dict()

    @app.post(f"{API}/versions/{{ref}}/evals", status_code=201)
    def ingest_evals(
        reg: Reg, ref: Annotated[str, PathParam(pattern=REF, max_length=300)], body: EvalsBody
    ) -> Any:
        """Record eval results of a suite version for a version."""
        return reg.ingest_evals(ref, body.results, suite=body.suite).to_dict()

    @app.get(f"{API}/versions/{{ref}}")
    def show(reg: Reg, ref: Annotated[str, PathParam(pattern=REF, max_length=300)]) -> Any:
        """A version (``ENTRY@VERSION``, ``ENTRY@STAGE`` or ``ENTRY``)."""
        return reg.show(ref).to_dict()

    @app.get(f"{API}/versions/{{ref}}/lineage")
    def lineage(reg: Reg, ref: Annotated[str, PathParam(pattern=REF, max_length=300)]) -> Any:
        """The upstream tree and direct downstream of a version."""
        return reg.lineage(ref).to_dict()

    @app.get(f"{API}/versions/{{ref}}/card")
    def card(reg: Reg, ref: Annotated[str, PathParam(pattern=REF, max_length=300)]) -> Any:
        """A version's model card."""
        return reg.card(ref).to_dict()

    @app.get(f"{API}/workloads/{{workload}}/resolve")
    def resolve(
        request: Request,
        reg: Reg,
        workload: Annotated[str, PathParam(pattern=NAME)],
        at: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        """The production stack of a workload, now or ``at`` an instant.

        The weak ``ETag`` is the ledger head the answer was read at: two answers with one
        head differ at most in ``as_of.time``. ``If-None-Match`` with it answers 304."""
        etag = f'W/"{reg.ledger_head().hash}"'
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers={"ETag": etag})
        body = reg.resolve(workload, at=at).to_dict()
        return JSONResponse(body, headers={"ETag": f'W/"{body["as_of"]["ledger_head"]}"'})

    @app.get(f"{API}/entries/{{entry}}/history")
    def history(
        reg: Reg,
        entry: Annotated[str, PathParam(pattern=NAME)],
        stage: Annotated[str | None, Query(pattern=STAGE)] = None,
    ) -> Any:
        """Who moved which version of an entry into which stage, and when."""
        return {"entry": entry, "history": [h.to_dict() for h in reg.history(entry, stage=stage)]}

    @app.post(f"{API}/requests", status_code=201)
    def promote(reg: Reg, body: PromoteBody) -> Any:
        """Open a promotion request."""
        request = reg.request_promotion(body.ref, to=body.to, reason=body.reason)
        return {
            "request": request.id,
            "entry": request.entry,
            "version": request.version,
            "digest": request.digest,
            "target": request.target.value,
            "requester": request.requester,
            "reason": request.reason,
            "status": request.status.value,
            "created_at": format_time(request.created_at),
        }

    @app.get(f"{API}/requests/{{request_id}}/gates")
    def gates(reg: Reg, request_id: Annotated[int, PathParam(**ID)]) -> Any:
        """Every gate of a request: pass or fail, and why."""
        return reg.gates(request_id).to_dict()

    @app.post(f"{API}/requests/{{request_id}}/approve")
    def approve(reg: Reg, request_id: Annotated[int, PathParam(**ID)], body: ReasonBody) -> Any:
        """Approve a request as the authenticated principal (never one's own)."""
        return reg.approve(request_id, reason=body.reason).to_dict()

    @app.post(f"{API}/requests/{{request_id}}/reject")
    def reject(reg: Reg, request_id: Annotated[int, PathParam(**ID)], body: ReasonBody) -> Any:
        """Reject a request; it can no longer be applied."""
        return reg.reject(request_id, reason=body.reason).to_dict()

    @app.post(f"{API}/requests/{{request_id}}/withdraw")
    def withdraw(reg: Reg, request_id: Annotated[int, PathParam(**ID)], body: ReasonBody) -> Any:
        """Withdraw a pending request (its requester or an admin)."""
        return reg.withdraw(request_id, reason=body.reason).to_dict()

    @app.post(f"{API}/requests/{{request_id}}/apply")
    def apply(reg: Reg, request_id: Annotated[int, PathParam(**ID)]) -> Any:
        """Apply a request if every gate passes (re-checked in the same transaction)."""
        return reg.apply(request_id).to_dict()

    @app.post(f"{API}/entries/{{entry}}/rollback")
    def rollback(
        reg: Reg, entry: Annotated[str, PathParam(pattern=NAME)], body: RollbackBody
    ) -> Any:
        """Return a stage of an entry to the version that held it before."""
        return reg.rollback(entry, stage=body.stage, reason=body.reason).to_dict()

    @app.get(f"{API}/ledger/head")
    def ledger_head(reg: Reg) -> Any:
        """The ledger head as an anchor (``SEQ:HASH``)."""
        return reg.anchor().to_dict()

    @app.get(f"{API}/ledger/verify")
    def verify(
        reg: Reg,
        anchor: Annotated[str | None, Query(pattern=r"^([0-9]{1,19}:)?[0-9a-f]{64}$")] = None,
    ) -> Any:
        """Recompute the hash chain (and check an anchor taken earlier)."""
        return reg.verify(anchor=anchor).to_dict()

    @app.put(f"{API}/catalog")
    def record_catalog(reg: Reg, body: CatalogBody) -> Any:
        """Record a new catalog (entries, workloads, policy) if it changed; admins only."""
        from registry_pipeline.catalog import catalog_from_document

        catalog = catalog_from_document(body.document)
        change = reg.record_catalog(catalog, body.document, source=body.source)
        return {**change.to_dict(), "entries": len(catalog.entries)}

    @app.get(f"{API}/tokens")
    def tokens_list(reg: Reg) -> Any:
        """Tokens the caller may see (never their secrets)."""
        return {"tokens": [t.to_dict() for t in reg.tokens.list()]}

    @app.post(f"{API}/tokens", status_code=201)
    def tokens_create(reg: Reg, body: TokenBody) -> Any:
        """Mint a token (for oneself; admins for anyone). The secret is in this answer only."""
        created = reg.tokens.create(
            principal=body.principal, name=body.name, expires_in=body.expires_in
        )
        return created.to_dict()

    @app.delete(f"{API}/tokens/{{token_id}}")
    def tokens_revoke(reg: Reg, token_id: Annotated[int, PathParam(**ID)]) -> Any:
        """Revoke a token."""
        return reg.tokens.revoke(token_id).to_dict()

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
        )
        if issuer
        else None
    )
    return create_app(ServerConfig(database=settings.database_url(), oidc=oidc))
