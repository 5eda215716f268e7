"""The one resource the Dagster layer uses: a typed handle on the registry service."""

from __future__ import annotations

import dagster as dg

from registry_pipeline.service import Registry


class RegistryResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Opens the registry store. ``actor`` is who Dagster acts as when a person does not:
    registrations from training outputs and promotions applied by the gate sensor."""

    database_url: str
    deployments: str = ".registry/deployments"
    inventory: str = ".registry/inventory"
    exports: str = ".registry/exports"
    actor: str = "dagster"

    def client(self, *, actor: str | None = None) -> Registry:
        """A :class:`Registry` acting as ``actor`` (default: this resource's actor)."""
        return Registry.open(
            self.database_url, actor=actor or self.actor, deployments=self.deployments
        )
