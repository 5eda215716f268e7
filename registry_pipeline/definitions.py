"""The one Dagster composition root, loaded by ``workspace.yaml``.

Settings come from the environment when Dagster loads the definitions (not at import):

- ``REGISTRY_DATABASE_URL``: the registry store (default ``sqlite:///.registry/registry.db``,
  made absolute so run workers in other folders open the same file);
- ``REGISTRY_CATALOG``: catalog YAML file or folder the asset graph is generated from
  (default: the catalog last loaded into the store with ``registry init``);
- ``REGISTRY_LANDING``: the training-output landing folder (default ``.registry/landing``);
- ``REGISTRY_DEPLOYMENTS``: where deployment manifests are written (default
  ``.registry/deployments``);
- ``REGISTRY_INVENTORY``, ``REGISTRY_EXPORTS``: where the inventory and the compliance
  exports are published (default ``.registry/inventory``, ``.registry/exports``);
- ``REGISTRY_SENSORS``: ``running`` to start the sensors with the code location (the demo
  does), otherwise they start stopped and are switched on in the UI;
- ``REGISTRY_SENSOR_INTERVAL``: seconds between sensor ticks (default 10);
- ``REGISTRY_URL`` and ``REGISTRY_TOKEN``: a registry server to work through, as the
  token's principal (a service account), instead of opening the database; the launchpad
  jobs that stand for a person (request, approve, reject, rollback) are then not offered,
  and ``REGISTRY_DATABASE_URL`` is only read, by the inventory and the exports.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline._collector import collector_paused

with collector_paused():  # Dagster and the assets: long-lived objects, little garbage
    import dagster as dg

    from registry_pipeline.assets.asset_keys import INVENTORY_KEY, LEDGER_KEY, entry_key
    from registry_pipeline.assets.entries import build_entry_assets
    from registry_pipeline.assets.entry_checks import build_entry_checks
    from registry_pipeline.assets.inventory import (
        build_export_assets,
        build_inventory_asset,
        build_quality_checks,
    )
    from registry_pipeline.assets.launchpad import (
        JOBS,
        SERVICE_JOBS,
        apply_promotion,
        landing_rejected,
    )
    from registry_pipeline.assets.ledger import build_ledger_asset
    from registry_pipeline.assets.resources import RegistryResource
    from registry_pipeline.assets.run_requests import ENTRY_JOB, REBUILD_JOB
    from registry_pipeline.catalog import load_catalog
    from registry_pipeline.core.catalog import Catalog
    from registry_pipeline.deployments import deployments_root
    from registry_pipeline.errors import NotFound
    from registry_pipeline.landing import landing_root
    from registry_pipeline.sensors.ledger_changes import build_ledger_sensor
    from registry_pipeline.sensors.promotion_gates import build_gate_sensor
    from registry_pipeline.sensors.review_due import build_review_sensor
    from registry_pipeline.sensors.stack_assembly import build_stack_sensor
    from registry_pipeline.sensors.training_outputs import build_training_sensor
    from registry_pipeline.service import Registry
    from registry_pipeline.settings import DEFAULT_DATABASE_URL as DEFAULT_URL
    from registry_pipeline.settings import inventory_root, plain_sqlite_path


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Where the registry, its catalog and its landing folder are."""

    database_url: str
    catalog: Catalog
    landing: Path
    deployments: Path = Path(".registry/deployments")
    inventory: Path = Path(".registry/inventory")
    exports: Path = Path(".registry/exports")
    sensors_running: bool = False
    sensor_interval: int = 10
    server_url: str | None = None
    """A registry server to work through as a service account (``REGISTRY_URL``)."""

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings from the environment (see the module docstring)."""
        url = absolute_url(os.environ.get("REGISTRY_DATABASE_URL") or DEFAULT_URL)
        server = os.environ.get("REGISTRY_URL") or None
        path = os.environ.get("REGISTRY_CATALOG")
        if path:
            catalog = load_catalog(path)[0]
        elif server:
            from registry_pipeline.client import RemoteRegistry

            catalog = RemoteRegistry(server, token=os.environ.get("REGISTRY_TOKEN")).catalog()
        else:
            try:
                catalog = Registry.open(url, actor="dagster").catalog()
            except NotFound:
                catalog = Catalog(entries={})
        return cls(
            database_url=url,
            catalog=catalog,
            landing=landing_root().resolve(),
            deployments=deployments_root().resolve(),
            inventory=inventory_root().resolve(),
            exports=Path(os.environ.get("REGISTRY_EXPORTS") or ".registry/exports").resolve(),
            sensors_running=os.environ.get("REGISTRY_SENSORS", "").lower() == "running",
            sensor_interval=int(os.environ.get("REGISTRY_SENSOR_INTERVAL") or 10),
            server_url=server,
        )


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute against the current folder."""
    path = plain_sqlite_path(url)
    if path is None:
        from registry_pipeline.store.engine import sqlite_path  # SQLAlchemy: other URLs

        path = sqlite_path(url)
    if path is None or path.is_absolute():
        return url
    return f"sqlite:///{path.resolve()}"


def build_definitions(settings: Settings) -> dg.Definitions:
    """Assets, checks, jobs, sensors and the schedule for one catalog."""
    catalog = settings.catalog
    every = settings.sensor_interval
    entry_assets = build_entry_assets(catalog)
    entry_keys = [entry_key(e) for e in catalog.entries.values()]
    status = (
        dg.DefaultSensorStatus.RUNNING
        if settings.sensors_running
        else dg.DefaultSensorStatus.STOPPED
    )
    register_job = dg.define_asset_job(
        ENTRY_JOB,
        selection=dg.AssetSelection.assets(*entry_keys),
        description="Register versions of catalog entries (launched by the training sensor).",
    )
    exports = build_export_assets()
    derived = [LEDGER_KEY, INVENTORY_KEY, *(a.key for a in exports)]
    # One job for the schedule and the sensor: Dagster builds each asset job's graph
    # (about 0.1 s at 1,000 entries) once, however many targets name it.
    rebuild = dg.define_asset_job(
        REBUILD_JOB,
        selection=dg.AssetSelection.assets(*derived),
        description="Rebuild the ledger asset and what derives from it.",
    )
    nightly = dg.ScheduleDefinition(
        name="nightly_rebuild",
        job=rebuild,
        cron_schedule="0 2 * * *",
        description="Re-verifies the ledger and rebuilds what derives from it every night.",
        default_status=dg.DefaultScheduleStatus(status.value),
    )
    return dg.Definitions(
        assets=[*entry_assets, build_ledger_asset(entry_keys), build_inventory_asset(), *exports],
        asset_checks=[*build_entry_checks(catalog), build_quality_checks(catalog)],
        jobs=[register_job, rebuild, *(JOBS if settings.server_url is None else SERVICE_JOBS)],
        schedules=[nightly],
        sensors=[
            build_training_sensor(
                catalog,
                settings.landing,
                jobs=[register_job, landing_rejected],
                default_status=status,
                interval=every,
            ),
            build_stack_sensor(catalog, jobs=[register_job], default_status=status, interval=every),
            build_gate_sensor(job=apply_promotion, default_status=status, interval=every),
            build_ledger_sensor(rebuild, derived, default_status=status, interval=every * 3),
            build_review_sensor(catalog, default_status=status),
        ],
        resources={
            "registry": RegistryResource(
                database_url=settings.database_url,
                deployments=str(settings.deployments),
                inventory=str(settings.inventory),
                exports=str(settings.exports),
                **(
                    {"server_url": settings.server_url, "token": dg.EnvVar("REGISTRY_TOKEN")}
                    if settings.server_url
                    else {}
                ),
            )
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's definitions, built from the environment at load time."""
    with warnings.catch_warnings():
        # Dagster warns that sensor owners are beta although these sensors set none.
        warnings.filterwarnings("ignore", message="Parameter `owners` of initializer")
        with collector_paused():
            return build_definitions(Settings.from_env())
