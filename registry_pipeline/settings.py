"""Where the registry keeps its state and who is acting: every ``REGISTRY_*`` environment
variable and every ``.registry/`` default, read in one place.

Each function takes an explicit value first (a CLI option, a Dagster config field) and
falls back to the environment, then to the default under ``.registry/`` in the current
folder. Nothing here is read at import time, and this module imports only the standard
library, so the CLI can use it before any heavy import.

- ``REGISTRY_DATABASE_URL``: the registry store (``sqlite:///.registry/registry.db``);
- ``REGISTRY_CATALOG``: catalog YAML file or folder (none: the catalog in the store);
- ``REGISTRY_ACTOR``: who is acting (none: the OS user);
- ``REGISTRY_DEPLOYMENTS``: deployment manifests (``.registry/deployments``);
- ``REGISTRY_INVENTORY``: the published DuckDB inventory (``.registry/inventory``);
- ``REGISTRY_EXPORTS``: the compliance exports (``.registry/exports``);
- ``REGISTRY_LANDING``: training outputs to register (``.registry/landing``);
- ``REGISTRY_HASH_CACHE``: the file-hash stat cache (``.registry/hash-cache.db``);
- ``REGISTRY_SENSORS``: ``running`` starts the sensors with the code location;
- ``REGISTRY_SENSOR_INTERVAL``: seconds between sensor ticks (10);
- ``REGISTRY_URL``: a registry server to act through (none: open the database here);
- ``REGISTRY_TOKEN``: the token presented to it (none: the one ``registry login`` saved);
- ``REGISTRY_CREDENTIALS``: where ``registry login`` saves tokens
  (``~/.config/registry-pipeline/credentials.json``);
- ``REGISTRY_OIDC_ISSUER``, ``REGISTRY_OIDC_AUDIENCE``, ``REGISTRY_OIDC_PRINCIPAL_CLAIM``:
  the identity provider ``registry serve`` accepts JWTs from (none; claim ``email``);
- ``REGISTRY_CHECKPOINT_KEY``: the server's checkpoint verifier key a client pins (none);
- ``REGISTRY_CHECKPOINT_STATE``: the checkpoints a client saw, one per log
  (``checkpoints.json`` beside the credentials);
- ``REGISTRY_RATE_LIMIT``: requests a principal may make a minute (600);
- ``REGISTRY_ALLOW_PRIVATE_WEBHOOKS``: ``1`` lets webhooks call loopback and private
  addresses (refused otherwise);
- ``REGISTRY_WEBHOOK_RETRY``, ``REGISTRY_WEBHOOK_GIVE_UP``: the waits between failed
  deliveries (``5s,30s,2m,10m,1h``, then the last, hourly) and how long a failing webhook
  is tried before it is disabled (``24h``);
- ``REGISTRY_DEBUG``: set to anything, errors show their traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from registry_pipeline.errors import BadInput

STATE_DIR = ".registry"
DEFAULT_DATABASE_URL = f"sqlite:///{STATE_DIR}/registry.db"
DEFAULT_DEPLOYMENTS = f"{STATE_DIR}/deployments"
DEFAULT_INVENTORY = f"{STATE_DIR}/inventory"
DEFAULT_EXPORTS = f"{STATE_DIR}/exports"
DEFAULT_LANDING = f"{STATE_DIR}/landing"
DEFAULT_HASH_CACHE = f"{STATE_DIR}/hash-cache.db"
DEFAULT_SENSOR_INTERVAL = 10


def plain_sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no query, nothing percent-encoded, not
    in memory), read as SQLAlchemy reads it; ``None`` for any other URL, which only
    SQLAlchemy parses (``registry_pipeline.store.engine.sqlite_path``). What needs only the
    file (the Dagster definitions) then loads without SQLAlchemy."""
    prefix = "sqlite:///"
    database = url[len(prefix) :]
    if not url.startswith(prefix) or "?" in url or "%" in url or database in ("", ":memory:"):
        return None
    return Path(database)


def _env(name: str, environ: Mapping[str, str] | None) -> str | None:
    return (os.environ if environ is None else environ).get(name) or None


def database_url(value: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """``value``, else ``REGISTRY_DATABASE_URL``, else ``sqlite:///.registry/registry.db``."""
    return value or _env("REGISTRY_DATABASE_URL", environ) or DEFAULT_DATABASE_URL


def catalog_path(
    value: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path | None:
    """``value``, else ``REGISTRY_CATALOG``, else ``None`` (use the catalog in the store)."""
    found = value or _env("REGISTRY_CATALOG", environ)
    return Path(found) if found else None


def actor(value: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """``value``, else ``REGISTRY_ACTOR``, else ``None`` (the caller uses the OS user)."""
    return value or _env("REGISTRY_ACTOR", environ)


def deployments_root(
    value: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """``value``, else ``REGISTRY_DEPLOYMENTS``, else ``.registry/deployments``."""
    return Path(value or _env("REGISTRY_DEPLOYMENTS", environ) or DEFAULT_DEPLOYMENTS)


def inventory_root(
    value: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """``value``, else ``REGISTRY_INVENTORY``, else ``.registry/inventory``."""
    return Path(value or _env("REGISTRY_INVENTORY", environ) or DEFAULT_INVENTORY)


def exports_root(
    value: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """``value``, else ``REGISTRY_EXPORTS``, else ``.registry/exports``."""
    return Path(value or _env("REGISTRY_EXPORTS", environ) or DEFAULT_EXPORTS)


def landing_root(
    value: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """``value``, else ``REGISTRY_LANDING``, else ``.registry/landing``."""
    return Path(value or _env("REGISTRY_LANDING", environ) or DEFAULT_LANDING)


def hash_cache_path(
    value: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """``value``, else ``REGISTRY_HASH_CACHE``, else ``.registry/hash-cache.db``."""
    return Path(value or _env("REGISTRY_HASH_CACHE", environ) or DEFAULT_HASH_CACHE)


def sensors_running(*, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``REGISTRY_SENSORS`` is ``running`` (any case)."""
    return (_env("REGISTRY_SENSORS", environ) or "").lower() == "running"


def sensor_interval(*, environ: Mapping[str, str] | None = None) -> int:
    """``REGISTRY_SENSOR_INTERVAL`` in seconds (a positive integer), else 10.

    Raises:
        BadInput: the variable is set to something other than a positive integer.
    """
    text = _env("REGISTRY_SENSOR_INTERVAL", environ)
    if text is None:
        return DEFAULT_SENSOR_INTERVAL
    if not text.strip().isdigit() or int(text) < 1:
        raise BadInput(f"REGISTRY_SENSOR_INTERVAL={text!r}: use a whole number of seconds")
    return int(text)


def debug(*, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``REGISTRY_DEBUG`` is set to anything: errors show their traceback."""
    return _env("REGISTRY_DEBUG", environ) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """Every setting above, read once (for a composition root that wants them together)."""

    database_url: str
    catalog: Path | None
    actor: str | None
    deployments: Path
    inventory: Path
    exports: Path
    landing: Path
    hash_cache: Path
    sensors_running: bool
    sensor_interval: int
    debug: bool

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        """Read every setting from ``environ`` (default: the process environment).

        Raises:
            BadInput: ``REGISTRY_SENSOR_INTERVAL`` is not a positive integer.
        """
        return cls(
            database_url=database_url(environ=environ),
            catalog=catalog_path(environ=environ),
            actor=actor(environ=environ),
            deployments=deployments_root(environ=environ),
            inventory=inventory_root(environ=environ),
            exports=exports_root(environ=environ),
            landing=landing_root(environ=environ),
            hash_cache=hash_cache_path(environ=environ),
            sensors_running=sensors_running(environ=environ),
            sensor_interval=sensor_interval(environ=environ),
            debug=debug(environ=environ),
        )


def server_url(value: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The registry server to act through, or ``None`` for local mode.

    Raises:
        BadInput: not an http(s) URL.
    """
    url = value or _env("REGISTRY_URL", environ)
    if not url:
        return None
    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise BadInput(f"registry URL {url[:80]!r} is not an http:// or https:// URL")
    return url.rstrip("/")


def credentials_path(*, environ: Mapping[str, str] | None = None) -> Path:
    """The file ``registry login`` saves tokens in (one per server URL, mode 0600)."""
    configured = _env("REGISTRY_CREDENTIALS", environ)
    if configured:
        return Path(configured)
    base = _env("XDG_CONFIG_HOME", environ) or str(Path.home() / ".config")
    return Path(base) / "registry-pipeline" / "credentials.json"


def token(url: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The token to present to ``url``: ``REGISTRY_TOKEN``, else the one saved for it."""
    explicit = _env("REGISTRY_TOKEN", environ)
    if explicit:
        return explicit.strip()
    import json

    try:
        saved = json.loads(credentials_path(environ=environ).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = saved.get(url) if isinstance(saved, dict) else None
    return found if isinstance(found, str) else None


def oidc_issuer(*, environ: Mapping[str, str] | None = None) -> str | None:
    """The OIDC issuer the server trusts (``REGISTRY_OIDC_ISSUER``), or ``None``."""
    return _env("REGISTRY_OIDC_ISSUER", environ)


def oidc_audience(*, environ: Mapping[str, str] | None = None) -> str | None:
    """The audience the server's JWTs must name (``REGISTRY_OIDC_AUDIENCE``)."""
    return _env("REGISTRY_OIDC_AUDIENCE", environ)


def oidc_principal_claim(*, environ: Mapping[str, str] | None = None) -> str:
    """The JWT claim naming the principal (``REGISTRY_OIDC_PRINCIPAL_CLAIM``, ``email``)."""
    return _env("REGISTRY_OIDC_PRINCIPAL_CLAIM", environ) or "email"


def oidc_client_id(*, environ: Mapping[str, str] | None = None) -> str | None:
    """The web UI's client id at the identity provider (``REGISTRY_OIDC_CLIENT_ID``)."""
    return _env("REGISTRY_OIDC_CLIENT_ID", environ)


def oidc_client_secret(*, environ: Mapping[str, str] | None = None) -> str | None:
    """That client's secret, for a confidential client (``REGISTRY_OIDC_CLIENT_SECRET``)."""
    return _env("REGISTRY_OIDC_CLIENT_SECRET", environ)


def dagster_url(*, environ: Mapping[str, str] | None = None) -> str | None:
    """The Dagster web UI that pages link lineage to (``REGISTRY_DAGSTER_URL``)."""
    return _env("REGISTRY_DAGSTER_URL", environ)


def checkpoint_key_file(*, environ: Mapping[str, str] | None = None) -> str | None:
    """The Ed25519 key file that signs checkpoints (``REGISTRY_CHECKPOINT_KEY_FILE``)."""
    return _env("REGISTRY_CHECKPOINT_KEY_FILE", environ)


def checkpoint_origin(*, environ: Mapping[str, str] | None = None) -> str:
    """The checkpoints' origin (``REGISTRY_CHECKPOINT_ORIGIN``, ``registry-pipeline``)."""
    return _env("REGISTRY_CHECKPOINT_ORIGIN", environ) or "registry-pipeline"


def pinned_checkpoint_key(
    value: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """The checkpoint verifier key a client pins (``REGISTRY_CHECKPOINT_KEY``)."""
    return (value or _env("REGISTRY_CHECKPOINT_KEY", environ) or "").strip() or None


def checkpoint_state(*, environ: Mapping[str, str] | None = None) -> Path:
    """The file a client keeps the last checkpoint of each log it checked in."""
    configured = _env("REGISTRY_CHECKPOINT_STATE", environ)
    if configured:
        return Path(configured)
    return credentials_path(environ=environ).with_name("checkpoints.json")


def rate_limit(*, environ: Mapping[str, str] | None = None) -> int:
    """Requests a principal may make a minute before 429 (``REGISTRY_RATE_LIMIT``, 600)."""
    text = _env("REGISTRY_RATE_LIMIT", environ) or "600"
    if not text.isdigit() or not 1 <= int(text) <= 10**7:
        raise BadInput(f"REGISTRY_RATE_LIMIT={text[:20]!r} is not a number of requests from 1")
    return int(text)


def allow_private_webhooks(*, environ: Mapping[str, str] | None = None) -> bool:
    """Whether webhooks may call loopback and private addresses
    (``REGISTRY_ALLOW_PRIVATE_WEBHOOKS``: ``1``, ``true`` or ``yes``)."""
    return (_env("REGISTRY_ALLOW_PRIVATE_WEBHOOKS", environ) or "").lower() in ("1", "true", "yes")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str, what: str) -> float:
    """Seconds in ``500ms``, ``5s``, ``2m`` or ``1h``."""
    value = text.strip()
    for unit in ("ms", "s", "m", "h"):
        number = value.removesuffix(unit)
        if number != value and number.replace(".", "", 1).isdigit():
            seconds = float(number) * _UNITS[unit]
            if 0 < seconds <= 7 * 86400:
                return seconds
    raise BadInput(f"{what}={text[:40]!r}: use durations such as 5s, 2m or 1h")


def webhook_retry(*, environ: Mapping[str, str] | None = None) -> tuple[float, ...] | None:
    """Seconds to wait after each failed delivery (``REGISTRY_WEBHOOK_RETRY``), or ``None``
    for the default schedule."""
    text = _env("REGISTRY_WEBHOOK_RETRY", environ)
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) > 50:
        raise BadInput("REGISTRY_WEBHOOK_RETRY: at most 50 waits")
    return tuple(_duration(p, "REGISTRY_WEBHOOK_RETRY") for p in parts)


def webhook_give_up(*, environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds a failing webhook is retried before it is disabled
    (``REGISTRY_WEBHOOK_GIVE_UP``), or ``None`` for the default (24 h)."""
    text = _env("REGISTRY_WEBHOOK_GIVE_UP", environ)
    return _duration(text, "REGISTRY_WEBHOOK_GIVE_UP") if text is not None else None
