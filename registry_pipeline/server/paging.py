"""Pages of a list answer: ``page_size`` (capped) and an opaque ``page_token``.

The token is the position of the next page, encoded so that clients treat it as opaque
(only a token this server gave is taken back). A list answers ``next_page_token``: ``null``
on its last page.
"""

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from registry_pipeline.core.errors import BadInput

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_PREFIX = "p1:"
T = TypeVar("T")

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page")]
PageToken = Annotated[
    str | None,
    Query(
        max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="next_page_token of the page before"
    ),
]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit() or len(number) > 12:
        raise BadInput("page_token is not one this server gave; start from the first page")
    return int(number)


def page(items: Sequence[T], size: int, token: str | None) -> tuple[list[T], str | None]:
    """The page of ``items`` that ``token`` points at, and the token of the next one."""
    start = _offset(token) if token else 0
    end = start + size
    return list(items[start:end]), (_token(end) if end < len(items) else None)
