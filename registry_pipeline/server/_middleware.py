"""What every request passes through: the body limit, the rate limit, the metrics."""

import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders

from registry_pipeline.server import _errors
from registry_pipeline.server._errors import Throttled
from registry_pipeline.service import Registry
from registry_pipeline.store import Store

MAX_BODY = 4 * 1024 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
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


class RateLimit:
    """A per-principal sliding window: at most ``per_minute`` requests in 60 s.

    Each principal's window is a queue of its request times, oldest first: a check drops
    the times that left the window from the front, so it costs O(1) amortised however
    busy the principal is."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, principal: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(principal, deque())
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                raise Throttled(int(60 - (now - hits[0])) + 1)
            hits.append(now)


class Metrics:
    """The server's Prometheus metrics (per worker process)."""

    def __init__(self, store: Callable[[], Store], dispatching: Callable[[], bool]) -> None:
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
        active = Gauge(
            "registry_webhook_dispatcher_active",
            "1 while this process holds the dispatcher lease and delivers webhooks.",
            registry=self.registry,
        )
        active.set_function(lambda: float(dispatching()))
        self.registry.register(_Batches(store))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its media type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestLog:
    """Give every answer an ``X-Request-Id`` (and a 405 its ``Allow``) and count it in the
    metrics: plain ASGI, so a request pays no extra task or body copy for it."""

    def __init__(self, app: ASGIApp, *, api: FastAPI, metrics: Metrics) -> None:
        self.app = app
        self.api = api
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers.append("X-Request-Id", uuid.uuid4().hex)
                if status == 405:
                    headers["Allow"] = ", ".join(methods_of(self.api, scope["path"]))
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            route = scope.get("route")
            self.metrics.observe(
                scope["method"],
                getattr(route, "path", "unmatched"),
                status,
                time.perf_counter() - started,
            )


def methods_of(app: FastAPI, path: str) -> list[str]:
    """Every method some route of ``app`` answers at ``path`` (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for route in app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


class _Batches:
    """How many write transactions this process committed, and the changes they held:
    their ratio is the group commit's batch size."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        group = self._store().group
        yield CounterMetricFamily(
            "registry_write_batches",
            "Write transactions this process committed (each one fsync).",
            value=group.batches if group else 0,
        )
        yield CounterMetricFamily(
            "registry_write_batch_changes",
            "Changes those transactions held.",
            value=group.changes if group else 0,
        )


def _head_seq(store: Store) -> int:
    return Registry(store, actor="metrics").ledger_head().seq
