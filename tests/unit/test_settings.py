"""Every REGISTRY_* variable and .registry/ default, read in one place (settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_pipeline import settings
from registry_pipeline.errors import BadInput

pytestmark = pytest.mark.unit


def test_defaults_live_under_dot_registry() -> None:
    env = settings.Environment.read({})
    assert env.database_url == "sqlite:///.registry/registry.db"
    assert (env.deployments, env.inventory, env.exports, env.landing, env.hash_cache) == (
        Path(".registry/deployments"),
        Path(".registry/inventory"),
        Path(".registry/exports"),
        Path(".registry/landing"),
        Path(".registry/hash-cache.db"),
    )
    assert (env.catalog, env.actor, env.sensors_running, env.debug) == (None, None, False, False)
    assert env.sensor_interval == 10


def test_the_environment_overrides_defaults_and_an_explicit_value_overrides_both() -> None:
    environ = {
        "REGISTRY_DATABASE_URL": "postgresql://db/registry",
        "REGISTRY_CATALOG": "catalog/",
        "REGISTRY_ACTOR": "alice@example.com",
        "REGISTRY_INVENTORY": "/srv/inventory",
        "REGISTRY_SENSORS": "RUNNING",
        "REGISTRY_SENSOR_INTERVAL": "30",
        "REGISTRY_DEBUG": "1",
        "REGISTRY_LANDING": "",
    }
    env = settings.Environment.read(environ)
    assert env.database_url == "postgresql://db/registry"
    assert env.catalog == Path("catalog")
    assert env.actor == "alice@example.com"
    assert env.inventory == Path("/srv/inventory")
    assert env.landing == Path(".registry/landing")
    assert (env.sensors_running, env.sensor_interval, env.debug) == (True, 30, True)
    assert settings.inventory_root("here", environ=environ) == Path("here")


@pytest.mark.parametrize("text", ["soon", "0", "-5", "1.5"])
def test_a_sensor_interval_that_is_not_a_whole_number_of_seconds_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="REGISTRY_SENSOR_INTERVAL"):
        settings.sensor_interval(environ={"REGISTRY_SENSOR_INTERVAL": text})


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///.registry/registry.db",
        "sqlite:////srv/registry/registry.db",
        "sqlite:///relative/dir with space/r.db",
    ],
)
def test_a_plain_sqlite_url_is_read_as_sqlalchemy_reads_it(url: str) -> None:
    from registry_pipeline.store.engine import sqlite_path

    assert settings.plain_sqlite_path(url) == sqlite_path(url)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///a%20b.db",
        "sqlite:///r.db?timeout=5",
        "sqlite+pysqlite:///r.db",
        "sqlite:///",
        "sqlite:///:memory:",
        "postgresql+psycopg2://registry@db/registry",
    ],
)
def test_any_other_url_is_left_to_sqlalchemy(url: str) -> None:
    assert settings.plain_sqlite_path(url) is None
