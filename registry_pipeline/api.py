"""The public :class:`Registry` (``from registry_pipeline import Registry``): the service's
facade, whose :meth:`Registry.open` also takes a registry server's URL.

``Registry.open("sqlite:///...")`` or a PostgreSQL URL opens the database in this process;
``Registry.open("https://registry.internal")`` answers a
:class:`~registry_pipeline.client.RemoteRegistry`: the same use cases over HTTP, as the
token's principal (``token=``, else ``REGISTRY_TOKEN`` or the one ``registry login``
saved), raising the same error classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.core.errors import BadInput
from registry_pipeline.service import Registry as LocalRegistry
from registry_pipeline.settings import DEFAULT_DATABASE_URL as DEFAULT_URL

SERVER_SCHEMES = ("http://", "https://")


class Registry(LocalRegistry):
    """The registry's use cases, in process or through a registry server."""

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        actor: str | None = None,
        deployments: str | Path | None = None,
        token: str | None = None,
    ) -> Any:
        """Open the registry at ``url``: a database (as ``actor``), or a registry server
        (as the principal ``token`` proves; ``actor`` is then refused)."""
        if not url.startswith(SERVER_SCHEMES):
            return LocalRegistry.open(url, actor=actor, deployments=deployments)
        from registry_pipeline import settings
        from registry_pipeline.client import RemoteRegistry

        if actor is not None:
            raise BadInput(
                f"a registry server decides who acts from the token; drop actor={actor!r}"
            )
        return RemoteRegistry(url, token=token or settings.token(url))
