"""The registry server: the HTTP API over the service layer, the only writer of the store.

Every request is authenticated (``Authorization: Bearer`` with a registry token), acts as
that principal and no one else (headers naming a user are never read), and answers errors
as RFC 9457 problems. ``/healthz`` is the one route open to anyone.
"""

import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry_pipeline.core.errors import RegistryError, Step, Unauthenticated
from registry_pipeline.core.identity import Principal
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.times import format_time
from registry_pipeline.server import _errors
from registry_pipeline.server.oidc import OIDCConfig, OIDCVerifier, looks_like_jwt
from registry_pipeline.service import Registry
from registry_pipeline.service import tokens as token_use_cases
from registry_pipeline.store import Store

API = "/api/v1"
MAX_BODY = 4 * 1024 * 1024
MAX_TEXT = 4096
NAME = r"^[a-z0-9][a-z0-9._-]{0,127}$"
"""An entry or workload name (:data:`registry_pipeline.core.kinds.NAME_PATTERN`)."""
REF = r"^[a-z0-9][a-z0-9._-]{0,127}(@[a-z0-9]{1,32})?$"
"""``ENTRY``, ``ENTRY@VERSION`` or ``ENTRY@STAGE``."""
STAGE = r"^(candidate|staging|production|archived)$"
ID = {"ge": 1, "le": 2**63 - 1}
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the server runs: its database and its limits."""

    database: str
    deployments: str | None = None
    rate_per_minute: int = 600
    """Requests one principal may make per minute before 429."""
    oidc: OIDCConfig | None = None
    """The identity provider whose JWTs are accepted besides registry tokens."""


class _BodyLimit:
    """Refuse bodies over :data:`MAX_BODY` with 413 before the application reads them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            await _too_large(scope, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, send)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send) -> None:
    body = _errors.problem(
        413, f"the request body is over {MAX_BODY} bytes", code="PayloadTooLarge"
    )
    response = JSONResponse(body, status_code=413, media_type=_errors.PROBLEM)
    response.headers["X-Request-Id"] = uuid.uuid4().hex
    response.headers["Connection"] = "close"
    await response(scope, _drain, send)


async def _drain() -> Message:
    return {"type": "http.disconnect"}


class _RateLimit:
    """A per-principal sliding window: at most ``per_minute`` requests in 60 s."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def check(self, principal: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(principal, []) if now - t < 60]
            if len(hits) >= self.per_minute:
                self._hits[principal] = hits
                raise _Throttled(int(60 - (now - hits[0])) + 1)
            hits.append(now)
            self._hits[principal] = hits


class _Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and the error class (``code``) behind it."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": _errors.TITLES[status]}
    for status in (400, 401, 403, 404, 409, 413, 422, 429, 500)
}


def _problem_media_type(document: dict[str, Any]) -> dict[str, Any]:
    """Error responses are ``application/problem+json`` in the document, as on the wire."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return document


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromoteBody(_Body):
    """Open a promotion request."""

    ref: str = Field(pattern=REF, max_length=300, description="ENTRY@VERSION")
    to: str = Field(pattern=STAGE, description="The target stage")
    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
    )


class ReasonBody(_Body):
    """A decision's reason."""

    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
    )


class RollbackBody(_Body):
    """Roll a stage back to its previous holder."""

    stage: str = Field(pattern=STAGE)
    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
    )


class CatalogBody(_Body):
    """A reviewed catalog: the merged document ``registry init --catalog`` read."""

    document: dict[str, Any]
    source: str = Field(default="api", max_length=1024)


class RegisterBody(_Body):
    """A version to register: the source as the client inspected it, and its lineage."""

    entry: str = Field(pattern=NAME)
    inspection: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    upstream: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=64
    )


class StackBody(_Body):
    """A stack version: an exact version of each component."""

    stack: str = Field(pattern=NAME)
    pins: list[Annotated[str, Field(max_length=300)]] = Field(min_length=1, max_length=64)


class EvalsBody(_Body):
    """Eval results of one suite version, in the registry's own shape."""

    suite: str = Field(pattern=REF, max_length=300)
    results: dict[str, Any]


class TokenBody(_Body):
    """Mint a token."""

    principal: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"
    )
    name: str = Field(default="cli", pattern=NAME)
    expires_in: str = Field(
        default="90d", pattern=r"^([1-9][0-9]?|[1-3][0-9][0-9]|400)d$|^[1-9][0-9]{0,2}h$"
    )


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

    limiter = _RateLimit(config.rate_per_minute)
    verifier = OIDCVerifier(config.oidc) if config.oidc else None
    app = FastAPI(
        title="registry-pipeline",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=PROBLEMS,
    )
    metrics = _Metrics(the_store)

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
            response.headers["Allow"] = ", ".join(_methods_of(app, request.url.path))
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

    @app.exception_handler(_Throttled)
    async def throttled(_: Request, error: _Throttled) -> Response:
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

    app.add_middleware(_BodyLimit)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_media_type(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class _Metrics:
    """The server's Prometheus metrics (per worker process)."""

    def __init__(self, store: Callable[[], Store]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "registry_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "registry_http_request_seconds",
            "Time to answer, by route.",
            ["route"],
            registry=self.registry,
        )
        head = Gauge(
            "registry_ledger_head_seq", "The ledger head's sequence number.", registry=self.registry
        )
        head.set_function(lambda: float(_head_seq(store())))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its media type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _methods_of(app: FastAPI, path: str) -> list[str]:
    """Every method some route of ``app`` answers at ``path`` (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _head_seq(store: Store) -> int:
    return Registry(store, actor="metrics").ledger_head().seq


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
