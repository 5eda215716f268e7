"""Pages as HTML: the Jinja2 templates (autoescaped), Markdown without raw HTML, and the
links to Dagster's asset pages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
_markdown = MarkdownIt("js-default")  # raw HTML in a card is shown as text, never run


def markdown(text: str | None) -> str:
    """Card Markdown as HTML; embedded HTML is escaped and unsafe links are dropped."""
    return str(_markdown.render(text or ""))


def short(digest: str | None) -> str:
    """A digest as pages show it: its algorithm and first 12 hex digits."""
    if not digest:
        return ""
    algorithm, _, hexits = digest.partition(":")
    return f"{algorithm}:{hexits[:12]}" if hexits else digest[:12]


def when(text: str | None) -> str:
    """An ISO 8601 instant as ``YYYY-MM-DD HH:MM UTC``."""
    if not text:
        return ""
    value = str(text)
    return f"{value[:10]} {value[11:16]} UTC" if len(value) >= 16 else value


def number(value: float | None) -> str:
    """A metric value, or a dash where there is none."""
    return "—" if value is None else f"{value:g}"


def dagster_link(base: str | None, kind: str | None, entry: str) -> str | None:
    """The Dagster asset page of ``entry`` (asset key ``[KIND, ENTRY]``), when the server
    knows Dagster's URL."""
    if not base or not kind:
        return None
    return f"{base.rstrip('/')}/assets/{quote(kind)}/{quote(entry)}"


templates.env.filters.update(markdown=markdown, short=short, when=when, number=number)


def page(
    request: Request, name: str, context: Mapping[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with ``context`` (plus the request, the viewer and the
    form token the session gives)."""
    response = templates.TemplateResponse(
        request,
        name,
        {
            "viewer": getattr(request.state, "viewer", None),
            "csrf": getattr(request.state, "csrf", ""),
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
