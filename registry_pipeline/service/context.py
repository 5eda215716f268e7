"""What every use case runs with: the store, the acting principal, the deployments folder,
and the two questions each transaction asks first (which catalog, may the actor do this)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from registry_pipeline.core.identity import AuthMethod, Principal
from registry_pipeline.errors import Refused, Step

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from registry_pipeline.core.catalog import Catalog, Operation
    from registry_pipeline.store import Store, Tx

#: Parsed catalogs by digest: a catalog is immutable once stored, so parsing it once per
#: process is enough (each transaction still reads which catalog is current).
_CATALOGS: dict[str, Catalog] = {}
#: Each workload's stack by catalog digest, read from the stored document (see
#: :meth:`Context.workload_stack`).
_STACKS: dict[str, dict[str, str]] = {}


def open_store(url: str, *, create: bool = False) -> Store:
    """The store at ``url`` (see :meth:`Store.open`). SQLAlchemy is imported here, when a
    database is opened: importing the service (as the Dagster definitions do) loads none."""
    from registry_pipeline.store import Store

    return Store.open(url, create=create)


def default_actor() -> str:
    """The OS user, the identity when no actor is given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def local_principal(name: str) -> Principal:
    """The principal of a process that opened the database itself: the name it was given,
    and the OS user who ran it (nothing is proven)."""
    return Principal(name=name, method=AuthMethod.LOCAL, os_user=default_actor())


@dataclass(frozen=True, slots=True)
class KnownCatalog:
    """A catalog and the ledger head it was read after."""

    head: tuple[int, str]
    catalog: Catalog


_CATALOG = "catalog"
_KNOWN = "known-catalog"
"""The key of the catalog kept in the store's head cache for planning writes."""
CATALOG_CHANGED = "catalog-changed"
"""Set in a transaction's memo once it records a catalog: its catalog is not kept."""


@dataclass(frozen=True, slots=True)
class Context:
    """The store, the principal and the deployments folder one :class:`Registry` acts with."""

    store: Store
    principal: Principal
    deployments: Path

    @property
    def actor(self) -> str:
        """The acting principal's name (what roles and the ledger's ``actor`` name)."""
        return self.principal.name

    @contextmanager
    def write(self, *, bootstrap: bool = False, known: KnownCatalog | None = None) -> Iterator[Tx]:
        """A write transaction whose ledger events record this principal and its proof;
        ``known``, the catalog read just before, is its catalog if the head has not moved.

        Raises:
            Refused: the policy requires authenticated identities and this one is local
                (unless ``bootstrap``: the operator minting or revoking tokens).
        """
        with self.store.write(self.principal.name, self.principal.auth()) as tx:
            if known is not None and known.head == tx.began:
                tx.memo[_CATALOG] = known.catalog
            local = not (bootstrap or self.principal.authenticated)
            if local and self.catalog_in(tx).policy.authenticated_only:
                raise Refused(
                    "policy.identity is authenticated: this registry takes changes only "
                    "through its server, from an authenticated principal",
                    step=Step.LOG_IN,
                )
            yield tx
        # Committed on its own (not in a group whose commit is still to come): its
        # catalog, unless it recorded one, is the catalog at the head it left.
        kept = tx.memo.get(_CATALOG)
        if self.store.group is None and kept is not None and CATALOG_CHANGED not in tx.memo:
            from registry_pipeline.service.cache import cache_of

            cache_of(self.store).put((tx.head_seq, tx.head()["hash"]), _KNOWN, kept)

    def known_catalog(self) -> KnownCatalog:
        """The catalog current in the store and the head it was read after (outside any
        transaction: for a write to reuse if nothing moved in between)."""
        from registry_pipeline.service.cache import cache_of

        cache = cache_of(self.store)
        head = self.store.head_key()
        hit, catalog = cache.get(head, _KNOWN)  # kept while nothing was committed since
        if not hit:
            with self.store.single_read() as conn:  # a catalog row never changes
                catalog = self.catalog(conn)
            # Read after ``head``: if a catalog was recorded in between, ``head`` is gone
            # for good (the head only moves on), so this is never taken for current.
            cache.put(head, _KNOWN, catalog)
        return KnownCatalog(head=head, catalog=catalog)

    def catalog_in(self, tx: Tx) -> Catalog:
        """The catalog current in the store as ``tx`` began, read once per transaction
        (for the checks at its start: a change that records a catalog reads it anew)."""
        found = tx.memo.get(_CATALOG)
        if found is None:
            found = tx.memo[_CATALOG] = self.catalog(tx.conn)
        return found

    def catalog(self, conn: Connection) -> Catalog:
        """The catalog current in the store, read on ``conn`` (inside its transaction)."""
        from registry_pipeline.store import catalogs

        return self.catalog_of(conn, catalogs.latest_digest(conn))

    def catalog_of(self, conn: Connection, latest: tuple[int, str] | None) -> Catalog:
        """The catalog recorded as ``latest`` (its id and digest, read on ``conn``): kept
        parsed by digest, read from ``conn`` only when it is new to this process."""
        from registry_pipeline.core.catalog import Catalog
        from registry_pipeline.store import catalogs

        if latest is None:
            return Catalog(entries={})
        cached = _CATALOGS.get(latest[1])
        if cached is None:
            from registry_pipeline.catalog import catalog_from_document  # pydantic: on use

            cached = catalog_from_document(catalogs.document(conn, latest[0]))
            _CATALOGS.clear()
            _CATALOGS[latest[1]] = cached
        return cached

    def workload_stack(self, conn: Connection, name: str) -> str:
        """The stack of workload ``name`` in the catalog current in the store.

        A stored catalog document was validated when it was recorded, so its workloads'
        stacks are read from it as they are, without building (and validating) the whole
        catalog: a ``registry resolve`` then never loads the catalog's models. Anything
        else (an unknown workload, no catalog) is answered by :meth:`catalog`.

        Raises:
            NotFound: no workload called ``name``.
        """
        from registry_pipeline.store import catalogs

        latest = catalogs.latest_digest(conn)
        if latest is not None:
            parsed = _CATALOGS.get(latest[1])
            if parsed is not None:
                return parsed.workload(name).stack
            stacks = _STACKS.get(latest[1])
            if stacks is None:
                workloads = catalogs.document(conn, latest[0]).get("workloads") or {}
                stacks = {w: str(spec["stack"]) for w, spec in workloads.items()}
                _STACKS.clear()
                _STACKS[latest[1]] = stacks
            if name in stacks:
                return stacks[name]
        return self.catalog(conn).workload(name).stack

    def is_admin(self, conn: Connection) -> bool:
        """Whether the actor is in ``policy.admins``; in local mode the operator, who holds
        the database itself, always is."""
        if not self.principal.authenticated:
            return True
        return self.actor in self.catalog(conn).policy.admins

    def require(self, catalog: Catalog, operation: Operation, entry: str) -> None:
        """Refuse unless the actor holds a role that ``policy.permissions`` allows.

        Raises:
            Refused: naming the roles that would allow it and the roles the actor holds.
        """
        if catalog.permits(self.actor, operation, entry, groups=self.principal.groups):
            return
        from registry_pipeline.catalog import ROLE_KEYS, granting_keys
        from registry_pipeline.core.catalog import DEFAULT_PERMISSIONS, Role

        allowed = catalog.policy.permissions.get(operation, DEFAULT_PERMISSIONS[operation])
        held = catalog.roles(self.actor, entry, groups=self.principal.groups)
        keys = granting_keys(catalog, operation, entry)
        owner_key = ROLE_KEYS[Role.OWNER].format(entry=entry)
        lists = [k for k in keys if k != owner_key]
        grants = []
        if lists:
            either = f"{', '.join(lists[:-1])} or {lists[-1]}" if len(lists) > 1 else lists[0]
            grants.append(f"add {self.actor} to {either}")
        if owner_key in keys:
            grants.append(
                f"make {self.actor} the owner ({owner_key}, now {catalog.entry(entry).owner})"
            )
        raise Refused(
            f"{self.actor} may not {operation} for {entry}: that needs "
            f"{' or '.join(sorted(allowed))} (policy.permissions.{operation}); "
            f"{self.actor} is {', '.join(sorted(held)) or 'not named in the policy or catalog'}"
            + (f"; to grant it, {', or '.join(grants)}" if grants else ""),
            entry=entry,
        )
