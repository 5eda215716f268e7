"""The server's one error table: error class to HTTP status, errors to RFC 9457 problems.

A problem carries the error's facts and its next step (``step``, ``about``) so that a
client can raise the same error again and say the same line a local run would.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry_pipeline.core.errors import (
    BadInput,
    Conflict,
    GateRefused,
    NotFound,
    Refused,
    RegistryError,
    StoreUnavailable,
    Unauthenticated,
)

PROBLEM = "application/problem+json"
STATUSES: tuple[tuple[type[RegistryError], int], ...] = (
    (Unauthenticated, 401),
    (BadInput, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Refused, 403),
    (StoreUnavailable, 503),
)
"""HTTP status by error class (the first the error is an instance of); others are 500."""
TITLES = {
    400: "Bad input",
    401: "Not authenticated",
    403: "Refused",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Store unavailable",
}


def status_for(error: RegistryError) -> int:
    """The HTTP status of ``error``."""
    return next((status for cls, status in STATUSES if isinstance(error, cls)), 500)


def problem(
    status: int, detail: str, *, code: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem document."""
    return {
        "type": "about:blank",
        "title": TITLES.get(status) or _phrase(status),
        "status": status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }


def error_problem(error: RegistryError) -> tuple[int, dict[str, Any]]:
    """``(status, problem)`` for a registry error, with every fact a client needs."""
    status = status_for(error)
    extra: dict[str, Any] = {"message": error.message}
    for key in ("entry", "version", "stage", "hint"):
        value = getattr(error, key)
        if value is not None:
            extra[key] = value
    if error.step is not None:
        extra["step"] = error.step.value
        extra["about"] = {k: v for k, v in error.about.items() if _json_scalar(v)}
    if isinstance(error, GateRefused):
        extra["gates"] = error.to_dict()["gates"]
    if status == 500:
        return status, problem(500, "internal error", code="InternalError")
    return status, problem(status, str(error), code=type(error).__name__, extra=extra)


def _json_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Throttled(Exception):
    """A principal went over its rate; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


PageError = Callable[[Request, int, str], Response | None]
"""How the web UI answers an error on one of its pages (``None``: not a page)."""


def answer_for(error: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, problem, headers)`` for any exception a request raised: registry errors
    by :data:`STATUSES` (401 with ``WWW-Authenticate``), 429 with ``Retry-After``, and
    anything unexpected as a bare 500 (never a stack trace)."""
    if isinstance(error, RegistryError):
        status, body = error_problem(error)
        return status, body, {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(error, Throttled):
        body = problem(429, "rate limit reached; retry later", code="TooManyRequests")
        return 429, body, {"Retry-After": str(error.retry_after)}
    return 500, problem(500, "internal error", code="InternalError"), {}


def problem_response(error: Exception) -> JSONResponse:
    """:func:`answer_for` as a response."""
    status, body, headers = answer_for(error)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def install(app: FastAPI, page_error: PageError | None = None) -> None:
    """Answer every error as a problem: registry errors by :data:`STATUSES`, 429 with
    ``Retry-After``, validation errors as 422, anything unexpected as a bare 500 (never a
    stack trace). On the web UI's pages ``page_error`` answers instead, as HTML."""

    def as_page(request: Request, status: int, detail: str) -> Response | None:
        return page_error(request, status, detail) if page_error is not None else None

    @app.exception_handler(RegistryError)
    async def registry_error(request: Request, error: RegistryError) -> Response:
        status, body, _ = answer_for(error)
        shown = as_page(request, status, str(body["detail"]))
        return shown if shown is not None else problem_response(error)

    @app.exception_handler(Throttled)
    async def throttled(request: Request, error: Throttled) -> Response:
        shown = as_page(request, 429, "too many requests; wait a minute and reload")
        if shown is not None:
            shown.headers["Retry-After"] = str(error.retry_after)
            return shown
        return problem_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        shown = as_page(request, 422, detail)
        if shown is not None:
            return shown
        return JSONResponse(
            problem(422, detail, code="BadInput"),
            status_code=422,
            media_type=PROBLEM,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        shown = as_page(request, error.status_code, str(error.detail))
        if shown is not None:
            return shown
        return JSONResponse(
            problem(error.status_code, str(error.detail), code="HTTPError"),
            status_code=error.status_code,
            media_type=PROBLEM,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> Response:
        shown = as_page(request, 500, "internal error")
        return shown if shown is not None else problem_response(error)
