"""The registry over HTTP: the Python API of :class:`~registry_pipeline.service.Registry`
against a ``registry serve``, raising the same error classes.

One shared ``httpx`` client per registry, with timeouts; reads (GET) are retried on a
transport error, writes never (the server may have committed one already). Nothing here
imports the server (FastAPI, uvicorn) or the store (SQLAlchemy): the CLI's client path
stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from registry_pipeline import errors
from registry_pipeline.core.errors import BadInput, RegistryError, Step, StoreUnavailable
from registry_pipeline.core.gates import GateResult
from registry_pipeline.core.kinds import check_name
from registry_pipeline.core.ledger import LedgerHead, parse_anchor
from registry_pipeline.core.names import check_reason
from registry_pipeline.core.promotion import PromotionRequest, RequestStatus
from registry_pipeline.core.refs import parse_exact, parse_ref
from registry_pipeline.core.stages import Stage, parse_stage
from registry_pipeline.core.times import format_time, parse_instant, parse_stored

API = "/api/v1"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
READ_RETRIES = 2


class Remote:
    """A result as the server sent it: attributes read its fields, ``to_dict()`` is the
    document itself (the same document the local result's ``to_dict()`` gives)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = dict(document)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._document[name]
        except KeyError:
            raise AttributeError(name) from None
        return _wrap(value)

    def to_dict(self) -> dict[str, Any]:
        """The document the server answered."""
        return dict(self._document)


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Remote(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _error(response: httpx.Response) -> RegistryError:
    """The registry error a problem document describes (the class its ``code`` names)."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    code = str(problem.get("code", ""))
    detail = str(problem.get("detail") or f"HTTP {response.status_code}")
    kind = getattr(errors, code, None)
    if not (isinstance(kind, type) and issubclass(kind, RegistryError)):
        kind = {413: BadInput, 422: BadInput, 429: errors.Refused}.get(
            response.status_code, StoreUnavailable if response.status_code >= 500 else BadInput
        )
        return kind(f"the registry server answered {response.status_code}: {detail}")
    step = problem.get("step")
    fields: dict[str, Any] = {
        "entry": problem.get("entry"),
        "version": problem.get("version"),
        "stage": problem.get("stage"),
        "hint": problem.get("hint"),
        "step": Step(step) if isinstance(step, str) and step in set(Step) else None,
        "about": problem.get("about") or {},
    }
    message = str(problem.get("message") or detail)
    if kind is errors.GateRefused:
        gates = [
            GateResult(name=g["name"], passed=g["passed"], detail=g["detail"])
            for g in problem.get("gates", [])
        ]
        return errors.GateRefused(message, gates=gates, **fields)
    return kind(message, **fields)


class RemoteRegistry:
    """The registry's use cases, served by a registry server at ``url``.

    Arguments are checked here with the same core rules the server applies (names,
    references, stages, reasons, anchors), so a malformed one is refused with the same
    error a local run gives, before any request is sent."""

    def __init__(self, url: str, *, token: str | None) -> None:
        if not token:
            raise errors.Unauthenticated(f"no token for {url}", step=Step.LOG_IN)
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "registry-pipeline"},
            timeout=TIMEOUT,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        attempts = READ_RETRIES + 1 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                response = self._http.request(method, f"{API}{path}", **kwargs)
                break
            except httpx.TransportError as e:
                if attempt + 1 == attempts:
                    raise StoreUnavailable(
                        f"cannot reach the registry server at {self.url}: {type(e).__name__}"
                    ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    # reads
    def whoami(self) -> Remote:
        """The caller as the server authenticated it."""
        return Remote(self._call("GET", "/whoami"))

    def list_entries(self, *, kind: str | None = None) -> list[Remote]:
        """Catalog entries with versions and stage holders."""
        params = {"kind": kind} if kind else {}
        return [Remote(e) for e in self._call("GET", "/entries", params=params)["entries"]]

    def show(self, ref: str) -> Remote:
        """A version with its stage, lineage, evidence and card."""
        parse_ref(ref)
        return Remote(self._call("GET", f"/versions/{_seg(ref)}"))

    def lineage(self, ref: str) -> Remote:
        """The upstream tree and direct downstream of a version."""
        parse_exact(ref)
        return Remote(self._call("GET", f"/versions/{_seg(ref)}/lineage"))

    def card(self, ref: str) -> Remote:
        """A version's model card."""
        parse_exact(ref)
        return Remote(self._call("GET", f"/versions/{_seg(ref)}/card"))

    def resolve(self, workload: str, *, at: str | datetime | None = None) -> Remote:
        """The production stack of a workload, now or at an instant."""
        check_name(workload, what="workload name")
        instant = parse_instant(at, what="instant") if isinstance(at, str) else at
        params = {"at": format_time(instant)} if instant else {}
        return Remote(self._call("GET", f"/workloads/{_seg(workload)}/resolve", params=params))

    def history(self, entry: str, *, stage: str | None = None) -> list[Remote]:
        """Stage assignments of an entry."""
        check_name(entry)
        params = {"stage": parse_stage(stage).value} if stage else {}
        answer = self._call("GET", f"/entries/{_seg(entry)}/history", params=params)
        return [Remote(h) for h in answer["history"]]

    def gates(self, request_id: int) -> Remote:
        """Every gate of a request."""
        return Remote(self._call("GET", f"/requests/{int(request_id)}/gates"))

    def ledger_head(self) -> LedgerHead:
        """The ledger head."""
        head = self._call("GET", "/ledger/head")
        return LedgerHead(seq=head["seq"], hash=head["hash"], recorded_at=head["recorded_at"])

    def anchor(self) -> Remote:
        """The ledger head as an anchor."""
        return Remote(self._call("GET", "/ledger/head"))

    def verify(self, *, anchor: str | None = None) -> Remote:
        """The server's verdict on the chain (and an anchor)."""
        if anchor:
            seq, digest = parse_anchor(anchor)
            anchor = f"{seq}:{digest}" if seq is not None else digest
        params = {"anchor": anchor} if anchor else {}
        return Remote(self._call("GET", "/ledger/verify", params=params))

    # decisions
    def request_promotion(self, ref: str, *, to: str, reason: str) -> PromotionRequest:
        """Open a promotion request."""
        parse_exact(ref)
        payload = {"ref": ref, "to": parse_stage(to).value, "reason": check_reason(reason)}
        body = self._call("POST", "/requests", json=payload)
        return PromotionRequest(
            id=body["request"],
            entry=body["entry"],
            version=body["version"],
            digest=body["digest"],
            target=Stage(body["target"]),
            requester=body["requester"],
            reason=body["reason"],
            status=RequestStatus(body["status"]),
            created_at=parse_stored(body["created_at"]),
        )

    def approve(self, request_id: int, *, reason: str, key: str | Path | None = None) -> Remote:
        """Approve a request as the token's principal."""
        if key is not None:
            raise BadInput("signed approvals are not taken over the server yet; approve unsigned")
        return Remote(
            self._call(
                "POST",
                f"/requests/{int(request_id)}/approve",
                json={"reason": check_reason(reason)},
            )
        )

    def reject(self, request_id: int, *, reason: str) -> Remote:
        """Reject a request."""
        return Remote(
            self._call(
                "POST", f"/requests/{int(request_id)}/reject", json={"reason": check_reason(reason)}
            )
        )

    def withdraw(self, request_id: int, *, reason: str) -> Remote:
        """Withdraw a pending request."""
        return Remote(
            self._call(
                "POST",
                f"/requests/{int(request_id)}/withdraw",
                json={"reason": check_reason(reason)},
            )
        )

    def apply(self, request_id: int) -> Remote:
        """Apply a request if every gate passes."""
        return Remote(self._call("POST", f"/requests/{int(request_id)}/apply"))

    def rollback(self, entry: str, *, stage: str, reason: str) -> Remote:
        """Return a stage to its previous holder."""
        check_name(entry)
        body = {"stage": parse_stage(stage).value, "reason": check_reason(reason)}
        return Remote(self._call("POST", f"/entries/{_seg(entry)}/rollback", json=body))

    def register(
        self,
        entry: str,
        source: str | Path,
        *,
        params: Mapping[str, Any] | None = None,
        upstream: Sequence[str] = (),
        rehash: bool = False,
        progress: Any = None,
    ) -> Remote:
        """Inspect ``source`` here (format facts, content manifest) and register it through
        the server, which never sees the bytes."""
        from registry_pipeline.inspection import inspect_source

        check_name(entry)
        for pin in upstream:
            parse_exact(pin)
        inspection = inspect_source(source, rehash=rehash, progress=progress)
        body = {
            "entry": entry,
            "inspection": inspection.to_dict(),
            "params": dict(params or {}),
            "upstream": list(upstream),
        }
        return Remote(self._call("POST", "/versions", json=body))

    def register_stack(self, stack: str, pins: Sequence[str]) -> Remote:
        """Register a stack version through the server."""
        check_name(stack)
        for pin in pins:
            parse_exact(pin)
        return Remote(self._call("POST", "/stacks", json={"stack": stack, "pins": list(pins)}))

    def ingest_evals(self, ref: str, results: str | Path, *, suite: str) -> Remote:
        """Read and check an eval results file here; record it through the server."""
        from registry_pipeline.inputs.eval_results import read_eval_results

        parse_exact(ref)
        parse_exact(suite)
        parsed = read_eval_results(results)
        document = {
            "metrics": dict(parsed.metrics),
            "produced_at": format_time(parsed.produced_at) if parsed.produced_at else None,
            "details": dict(parsed.details),
        }
        body = {"suite": suite, "results": document}
        return Remote(self._call("POST", f"/versions/{_seg(ref)}/evals", json=body))

    def record_catalog_file(self, path: str | Path) -> Remote:
        """Read and check the catalog at ``path`` here, then record it through the server."""
        from registry_pipeline.catalog import load_catalog

        _, document = load_catalog(path)
        body = {"document": document, "source": str(path)}
        return Remote(self._call("PUT", "/catalog", json=body))

    @property
    def tokens(self) -> RemoteTokens:
        """Registry tokens over the server."""
        return RemoteTokens(self)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise BadInput(
            f"{name.replace('_', ' ')} does not work against a registry server yet; run it "
            "where the database is (without REGISTRY_URL)"
        )


class RemoteTokens:
    """``tokens.create``, ``tokens.list``, ``tokens.revoke`` over the server."""

    def __init__(self, registry: RemoteRegistry) -> None:
        self._registry = registry

    def create(
        self, *, principal: str | None = None, name: str = "cli", expires_in: str | None = None
    ) -> Remote:
        """Mint a token."""
        body: dict[str, Any] = {"principal": principal, "name": name}
        if expires_in:
            body["expires_in"] = expires_in
        return Remote(self._registry._call("POST", "/tokens", json=body))

    def list(self) -> list[Remote]:
        """Tokens the caller may see."""
        return [Remote(t) for t in self._registry._call("GET", "/tokens")["tokens"]]

    def revoke(self, token_id: int) -> Remote:
        """Revoke a token."""
        return Remote(self._registry._call("DELETE", f"/tokens/{int(token_id)}"))


def _seg(text: str) -> str:
    """One URL path segment (``@`` kept readable)."""
    return quote(text, safe="@")
