"""``httpx``, without its command-line tool.

httpx imports its CLI (and with it rich and pygments, ~70 ms) whenever rich is installed,
as it is beside Dagster. Nothing here runs that tool, so the client takes httpx's own
fallback for it (``httpx.main`` then says to install ``httpx[cli]``).
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402

__all__ = ["httpx"]
