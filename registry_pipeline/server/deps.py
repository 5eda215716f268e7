"""Who is calling and the registry they act through: the dependencies every route takes.

The caller is proven by ``Authorization: Bearer`` (a registry token, or a JWT of the
configured identity provider) and by nothing else: headers naming a user are never read.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from registry_pipeline.core.errors import Step, Unauthenticated
from registry_pipeline.core.identity import Principal
from registry_pipeline.server._middleware import RateLimit
from registry_pipeline.server.heads import HeadWatch
from registry_pipeline.server.oidc import OIDCVerifier, looks_like_jwt
from registry_pipeline.service import Registry
from registry_pipeline.service import tokens as token_use_cases
from registry_pipeline.store import Store


@dataclass(slots=True, kw_only=True)
class ServerState:
    """What the routes share: the store (opened on first use), the limiter, the verifier."""

    open_store: Callable[[], Store]
    limiter: RateLimit
    verifier: OIDCVerifier | None
    deployments: str | None
    _store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    heads: HeadWatch = field(init=False)

    def __post_init__(self) -> None:
        self.heads = HeadWatch(self._head)

    def _head(self) -> int:
        return Registry(self.store(), actor="events").ledger_head().seq

    def acting_as(self, who: Principal) -> Registry:
        """The registry acting as ``who``."""
        return Registry(self.store(), principal=who, deployments=self.deployments)

    def store(self) -> Store:
        """The one store of this process."""
        with self._lock:
            if self._store is None:
                self._store = self.open_store()
                self._store.group_commits()  # concurrent requests share commits
                self._store.wal_checkpoints_in_background()  # and no request checkpoints
            return self._store


def state(request: Request) -> ServerState:
    """The server's shared state."""
    found: ServerState = request.app.state.registry
    return found


def principal(request: Request) -> Principal:
    """The authenticated caller (401 without valid credentials, 429 over the rate)."""
    return authenticate(state(request), request.headers.get("authorization", ""))


def authenticate(shared: ServerState, header: str) -> Principal:
    """The caller an ``Authorization`` header proves, counted against its rate."""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("no bearer token", step=Step.LOG_IN)
    secret = credentials.strip()
    if shared.verifier is not None and looks_like_jwt(secret):
        found = shared.verifier.verify(secret)
    else:
        found = token_use_cases.authenticate(shared.store(), secret)
    shared.limiter.check(found.name)
    return found


async def registry(request: Request, who: Annotated[Principal, Depends(principal)]) -> Registry:
    """The registry acting as the authenticated caller (no I/O: async, so that FastAPI
    does not spend a worker-thread hop on it)."""
    return state(request).acting_as(who)


Reg = Annotated[Registry, Depends(registry)]
