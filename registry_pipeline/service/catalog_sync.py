"""Recording a reviewed catalog: entries, workloads and policy, as one ledger event."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry_pipeline.catalog import catalog_digest, catalog_from_document
from registry_pipeline.core.catalog import DEFAULT_PERMISSIONS, Catalog, Operation
from registry_pipeline.errors import Conflict, Refused
from registry_pipeline.service.context import CATALOG_CHANGED, Context
from registry_pipeline.service.results import CatalogChange, Initialised
from registry_pipeline.store import Store, catalogs


def record_catalog(
    ctx: Context, catalog: Catalog, document: Mapping[str, Any], *, source: str
) -> CatalogChange:
    """Record a new catalog (entries, workloads, policy) in the store, if it changed.

    Raises:
        Refused: the current catalog's policy does not let the actor change it.
        Conflict: the new catalog drops or re-kinds an entry that has versions.
    """
    digest = catalog_digest(document)
    with ctx.write() as tx:
        current = catalogs.latest_document(tx.conn)
        if current is not None:
            if current[0] == digest:
                return CatalogChange(catalog=digest, changed=False)
            loaded = catalog_from_document(current[1])
            if not loaded.may_change_catalog(ctx.actor, groups=ctx.principal.groups):
                allowed = loaded.policy.permissions.get(
                    Operation.CATALOG, DEFAULT_PERMISSIONS[Operation.CATALOG]
                )
                raise Refused(
                    f"{ctx.actor} may not change the catalog: that needs "
                    f"{' or '.join(sorted(allowed))} (policy.permissions.catalog); admins: "
                    f"{', '.join(sorted(loaded.policy.admins)) or 'none'}"
                )
        existing = catalogs.entries(tx.conn)
        with_versions = catalogs.entries_with_versions(tx.conn)
        for name in sorted(with_versions):
            if name not in catalog.entries:
                raise Conflict(
                    f"the catalog drops {name!r}, which has registered versions; keep it",
                    entry=name,
                )
            if existing[name].kind != catalog.entries[name].kind:
                raise Conflict(
                    f"the catalog changes {name!r} from {existing[name].kind} to "
                    f"{catalog.entries[name].kind}, but it has versions; add a new entry",
                    entry=name,
                )
        for name, entry in catalog.entries.items():
            catalogs.put_entry(
                tx.conn,
                name=name,
                kind=entry.kind,
                owner=entry.owner,
                at=tx.now_text,
                new=name not in existing,
            )
        for name in set(existing) - set(catalog.entries) - with_versions:
            catalogs.drop_entry(tx.conn, name)
        tx.memo[CATALOG_CHANGED] = True
        catalogs.record(
            tx.conn,
            digest=digest,
            document=document,
            source=source,
            at=tx.now_text,
            actor=ctx.actor,
        )
        tx.append(
            "catalog.load",
            f"catalog:{digest[:12]}",
            {
                "digest": digest,
                "source": source,
                "entries": sorted(catalog.entries),
                "workloads": sorted(catalog.workloads),
            },
        )
    return CatalogChange(catalog=digest, changed=True)


def read_catalog(path: str | Path | None) -> tuple[Catalog, dict[str, Any], str] | None:
    """Parse the catalog file or folder at ``path`` (before anything is created).

    Raises:
        CatalogError: the catalog is malformed.
    """
    from registry_pipeline.catalog import load_catalog

    return (*load_catalog(path), str(path)) if path is not None else None


def initialise(
    ctx: Context, database: str, loaded: tuple[Catalog, dict[str, Any], str] | None
) -> Initialised:
    """Record a catalog :func:`read_catalog` parsed (if any) in a created registry.

    Raises:
        Refused: the current policy does not let the actor change the catalog.
        Conflict: the new catalog drops or re-kinds an entry that has versions.
    """
    change = None
    if loaded is not None:
        change = record_catalog(ctx, loaded[0], loaded[1], source=loaded[2])
    with ctx.store.read() as conn:
        entries = len(ctx.catalog(conn).entries)
    return Initialised(
        database=database,
        entries=entries,
        catalog=change.catalog if change else None,
        changed=change.changed if change else False,
    )


def recorded_document(store: Store) -> dict[str, Any]:
    """The catalog document current in ``store`` (``{"entries": {}}`` before any), as it was
    recorded: what a client needs to build the same :class:`Catalog`."""
    with store.read() as conn:
        latest = catalogs.latest_digest(conn)
        return dict(catalogs.document(conn, latest[0])) if latest else {"entries": {}}
