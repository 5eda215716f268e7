"""The governance web UI that ``registry serve`` serves at ``/`` (DESIGN.md §11):
server-rendered pages for approvers, governance staff and auditors, acting as the person
logged in, and the public AI-use notice embed."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from registry_pipeline.server.web import auth, browse, embed, pages
from registry_pipeline.server.web.render import HERE, page

NOT_PAGES = ("/api/", "/healthz", "/metrics", "/embed/v1/workloads/", "/static/")


def is_page(request: Request) -> bool:
    """Whether ``request`` is for one of the UI's pages (errors then answer as HTML)."""
    path = request.url.path
    if path.startswith("/embed/v1/workloads/") and path.endswith("/card"):
        return True
    return not path.startswith(NOT_PAGES)


def page_error(request: Request, status: int, detail: str) -> Response | None:
    """An error on a page, as a page (never a stack trace); ``None`` off the UI."""
    if not is_page(request):
        return None
    return page(request, "error.html", {"status": status, "detail": detail}, status_code=status)


def install(app: FastAPI, *, dagster_url: str | None = None) -> None:
    """Serve the pages, the login, the embed and the style sheet on ``app``."""
    app.state.dagster_url = dagster_url

    @app.exception_handler(auth.LoginNeeded)
    async def login_needed(_: Request, error: auth.LoginNeeded) -> Response:
        target = "/login" if error.next_path == "/" else f"/login?next={_quoted(error.next_path)}"
        return RedirectResponse(target, status_code=303)

    for routes in (auth, pages, browse, embed):
        app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
