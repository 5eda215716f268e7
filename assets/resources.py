"""The one resource the Dagster layer uses: a typed handle on the registry service, in
process (the database) or through a registry server as a service account."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from registry_pipeline.errors import Refused
from registry_pipeline.service import Registry

if TYPE_CHECKING:
    from registry_pipeline.client import RemoteRegistry


class RegistryResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Opens the registry. ``actor`` is who Dagster acts as when a person does not:
    registrations from training outputs and promotions applied by the gate sensor.

    With ``server_url`` (and ``token``, best given as ``dg.EnvVar("REGISTRY_TOKEN")`` so the
    UI never shows it) every use case goes through the server, as the token's principal: a
    service account. ``database_url`` is then only read, by the inventory and the exports
    (a read-only role is enough)."""

    database_url: str
    deployments: str = ".registry/deployments"
    inventory: str = ".registry/inventory"
    exports: str = ".registry/exports"
    actor: str = "dagster"
    server_url: str = ""
    token: str = ""

    def client(self, *, actor: str | None = None) -> Registry | RemoteRegistry:
        """The registry acting as ``actor`` (default: this resource's actor); through the
        server, only as the token's principal."""
        if self.server_url:
            from registry_pipeline.client import RemoteRegistry

            if actor is not None and actor != self.actor:
                raise Refused(
                    f"Dagster cannot act as {actor} through a registry server: the token "
                    "decides who acts; that person decides in the CLI or the web UI"
                )
            return RemoteRegistry(self.server_url, token=self.token)
        return Registry.open(
            self.database_url, actor=actor or self.actor, deployments=self.deployments
        )

    def reader(self) -> Registry:
        """The registry's database, for what reads it in bulk (inventory, exports)."""
        return Registry.open(self.database_url, actor=self.actor, deployments=self.deployments)
