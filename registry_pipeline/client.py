"""The registry over HTTP: the Python API of :class:`~registry_pipeline.service.Registry`
against a ``registry serve``, raising the same error classes.

One shared ``httpx`` client per registry, with timeouts; reads (GET) are retried on a
transport error, writes never (the server may have committed one already). Nothing here
imports the server (FastAPI, uvicorn) or the store (SQLAlchemy): the CLI's client path
stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from registry_pipeline import errors
from registry_pipeline._httpx import httpx
from registry_pipeline.core.errors import BadInput, RegistryError, Step, StoreUnavailable
from registry_pipeline.core.kinds import check_name
from registry_pipeline.core.ledger import LedgerHead, parse_anchor
from registry_pipeline.core.names import check_reason
from registry_pipeline.core.promotion import PromotionRequest
from registry_pipeline.core.refs import parse_exact, parse_ref
from registry_pipeline.core.stages import parse_stage
from registry_pipeline.core.times import format_time, parse_instant

if TYPE_CHECKING:
    from registry_pipeline.core.automation import LatestReadiness, StackPins, UpstreamPins
    from registry_pipeline.core.catalog import Catalog

API = "/api/v1"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
READ_RETRIES = 2
PAGE_SIZE = 1000


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

    def keys(self) -> Any:
        """The document's fields (so that ``dict(remote)`` is the document)."""
        return self._document.keys()

    def __getitem__(self, key: str) -> Any:
        return self._document[key]


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
        from registry_pipeline.core.gates import GateResult

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

    def _call(self, method: str, path: str, *, text: bool = False, **kwargs: Any) -> Any:
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
        if text:
            return response.text
        try:
            return response.json()
        except ValueError:
            raise StoreUnavailable(
                f"the registry server at {self.url} answered {path} with something not JSON"
            ) from None

    def _all(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a paged list, following ``next_page_token`` to its end."""
        items: list[Any] = []
        query: dict[str, Any] = {**(params or {}), "page_size": PAGE_SIZE}
        while True:
            answer = self._call("GET", path, params=query)
            items += answer[key]
            token = answer.get("next_page_token")
            if not token:
                return items
            query["page_token"] = token

    # reads
    def whoami(self) -> Remote:
        """The caller as the server authenticated it."""
        return Remote(self._call("GET", "/whoami"))

    def list_entries(self, *, kind: str | None = None) -> list[Remote]:
        """Catalog entries with versions and stage holders."""
        params = {"kind": kind} if kind else {}
        return [Remote(e) for e in self._all("/entries", "entries", params)]

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

    def search(self, **query: Any) -> Remote:
        """Versions by tag and eval metric (every page), as the local search answers."""
        pairs = sorted((query.pop("params", None) or {}).items())
        names = {"at_least": "min", "at_most": "max"}
        params = {names.get(k, k): v for k, v in query.items() if v is not None}
        params.update(param=[f"{k}={v}" for k, v in pairs], page_size=PAGE_SIZE)
        answer = self._call("GET", "/versions", params=params)
        found = list(answer["versions"])
        while token := answer.get("next_page_token"):
            answer = self._call("GET", "/versions", params={**params, "page_token": token})
            found += answer["versions"]
        del answer["next_page_token"]
        return Remote({**answer, "versions": found})

    def history(self, entry: str, *, stage: str | None = None) -> list[Remote]:
        """Stage assignments of an entry."""
        check_name(entry)
        params = {"stage": parse_stage(stage).value} if stage else {}
        return [Remote(h) for h in self._all(f"/entries/{_seg(entry)}/history", "history", params)]

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
        return PromotionRequest.from_dict(self._call("POST", "/requests", json=payload))

    def approve(self, request_id: int, *, reason: str, key: str | Path | None = None) -> Remote:
        """Approve a request as the token's principal; with ``key``, ask the server for the
        approval document, sign it here (the key never leaves this machine) and send the
        signature."""
        why = check_reason(reason)
        body: dict[str, Any] = {"reason": why}
        if key is not None:
            from registry_pipeline import signatures

            private = signatures.load_private(Path(key))
            document = self.to_sign(request_id, reason=why)
            body["signature"] = signatures.sign(private, document["payload"])
            body["signed_at"] = document["signed_at"]
        return Remote(self._call("POST", f"/requests/{int(request_id)}/approve", json=body))

    def to_sign(self, request_id: int, *, reason: str) -> dict[str, Any]:
        """The approval document to sign (``payload``, ``message``, ``signed_at``)."""
        answer: dict[str, Any] = self._call(
            "POST", f"/requests/{int(request_id)}/to-sign", json={"reason": check_reason(reason)}
        )
        return answer

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
        exclude: Sequence[str] = (),
        expected_digest: str | None = None,
        rehash: bool = False,
        progress: Any = None,
    ) -> Remote:
        """Inspect ``source`` here (format facts, content manifest) and register it through
        the server, which never sees the bytes."""
        from registry_pipeline.inspection import expect_digest, inspect_source

        check_name(entry)
        for pin in upstream:
            parse_exact(pin)
        inspection = inspect_source(source, exclude=exclude, rehash=rehash, progress=progress)
        expect_digest(inspection, expected_digest, entry=entry)
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

    def set_card(self, ref: str, fields: str | Path | Mapping[str, Any]) -> Remote:
        """Set a version's card from a card file (or a mapping of fields), read by the
        server as a local run reads it."""
        from registry_pipeline.inputs.card_files import MARKDOWN_SUFFIXES, read_card_file

        parse_exact(ref)
        if isinstance(fields, str | Path):
            read_card_file(fields)  # a malformed card is refused here, as it is locally
            file = Path(fields)
            body = {
                "text": file.read_text(encoding="utf-8"),
                "markdown": file.suffix.lower() in MARKDOWN_SUFFIXES,
            }
        else:
            body = {"text": json.dumps(dict(fields)), "markdown": False}
        return Remote(self._call("PUT", f"/versions/{_seg(ref)}/card", json=body))

    def ingest_ab(self, results: str | Path | Mapping[str, Any]) -> Remote:
        """Check an A/B result file here; record it through the server."""
        from registry_pipeline.formats._common import read_json
        from registry_pipeline.formats.ab_tests import parse_ab_result

        if isinstance(results, str | Path):
            document = read_json(Path(results), Path(results).name)
            parse_ab_result(document, Path(results).name)
        else:
            document = dict(results)
        return Remote(self._call("POST", "/ab-tests", json={"result": document}))

    def review_due(self, *, entry: str | None = None) -> list[Remote]:
        """Production versions whose approval or evals have outlived the policy."""
        params = {"entry": check_name(entry)} if entry else {}
        return [Remote(r) for r in self._all("/reviews/due", "due", params)]

    def write_deployments(self, stack: str | None = None) -> list[str]:
        """Have the server rewrite its deployment manifests; the paths it wrote."""
        body = {"stack": check_name(stack)} if stack else {}
        written: list[str] = self._call("POST", "/deployments", json=body)["written"]
        return written

    def pending_requests(self) -> list[PromotionRequest]:
        """Every request still pending, oldest first."""
        return [PromotionRequest.from_dict(r) for r in self._all("/requests", "requests")]

    def request_status(self, request_id: int) -> str:
        """``pending``, ``applied``, ``rejected`` or ``withdrawn``."""
        status: str = self._call("GET", f"/requests/{int(request_id)}")["status"]
        return status

    def catalog(self) -> Catalog:
        """The catalog current in the registry."""
        from registry_pipeline.catalog import catalog_from_document

        return catalog_from_document(self._call("GET", "/catalog")["document"])

    @property
    def automation(self) -> RemoteAutomation:
        """The questions the Dagster layer asks, over the server."""
        return RemoteAutomation(self)

    @property
    def tokens(self) -> RemoteTokens:
        """Registry tokens over the server."""
        return RemoteTokens(self)

    @property
    def webhooks(self) -> RemoteWebhooks:
        """Webhooks over the server."""
        return RemoteWebhooks(self)

    @property
    def ledger(self) -> RemoteLedger:
        """The ledger's Merkle tree over the server: checkpoint and proofs."""
        return RemoteLedger(self)

    def events(self, *, after: int = 0, limit: int = 100, wait: float = 0) -> Remote:
        """Ledger events after seq ``after`` (``{events, cursor, head}``); with ``wait``,
        the server holds an empty answer up to that many seconds for the next event."""
        params = {"after": int(after), "limit": int(limit), "wait": wait}
        return Remote(
            self._call(
                "GET", "/events", params=params, timeout=httpx.Timeout(30.0 + wait, connect=5.0)
            )
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise BadInput(
            f"{name.replace('_', ' ')} does not work against a registry server; run it "
            "where the database is (without REGISTRY_URL)"
        )


class RemoteAutomation:
    """``latest_pins``, ``stack_pins_due``, ``latest_readiness`` over the server."""

    def __init__(self, registry: RemoteRegistry) -> None:
        self._registry = registry

    def latest_pins(self, entry: str) -> UpstreamPins:
        """The latest version of each upstream entry (stack component) ``entry`` declares."""
        from registry_pipeline.core.automation import UpstreamPins

        found = self._registry._call("GET", f"/entries/{_seg(check_name(entry))}/latest-pins")
        return UpstreamPins(
            entry=found["entry"],
            pins=tuple(parse_exact(p) for p in found["pins"]),
            missing=tuple(found["missing"]),
        )

    def stack_pins_due(self, stack: str) -> StackPins | None:
        """The pins of a new version of ``stack`` when one is due, else ``None``."""
        from registry_pipeline.core.automation import StackPins

        due = self._registry._call("GET", f"/stacks/{_seg(check_name(stack))}/due")
        if due["pins"] is None:
            return None
        return StackPins(stack=due["stack"], pins=tuple(parse_exact(p) for p in due["pins"]))

    def latest_readiness(self, entry: str, *, target: str = "production") -> LatestReadiness:
        """The evidence checks, with severities, on ``entry``'s latest version."""
        from registry_pipeline.core.automation import CheckSeverity, EvidenceCheck, LatestReadiness

        found = self._registry._call(
            "GET",
            f"/entries/{_seg(check_name(entry))}/readiness",
            params={"target": parse_stage(target).value},
        )
        return LatestReadiness(
            entry=found["entry"],
            version=found["version"],
            checks=tuple(
                EvidenceCheck(
                    name=c["name"],
                    passed=c["passed"],
                    severity=CheckSeverity(c["severity"]),
                    detail=c["detail"],
                )
                for c in found["checks"]
            ),
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
        return [Remote(t) for t in self._registry._all("/tokens", "tokens")]

    def revoke(self, token_id: int) -> Remote:
        """Revoke a token."""
        return Remote(self._registry._call("DELETE", f"/tokens/{int(token_id)}"))


class RemoteWebhooks:
    """The webhook use cases over the server."""

    def __init__(self, registry: RemoteRegistry) -> None:
        self._registry = registry

    def add(
        self,
        url: str,
        *,
        events: Sequence[str],
        entry: str | None = None,
        workload: str | None = None,
    ) -> Remote:
        """Subscribe a receiver; the answer holds the signing secret, this once."""
        body = {"url": url, "events": list(events), "entry": entry, "workload": workload}
        return Remote(self._registry._call("POST", "/webhooks", json=body))

    def remove(self, webhook: int) -> Remote:
        """Stop a webhook for good."""
        return Remote(self._registry._call("DELETE", f"/webhooks/{int(webhook)}"))

    def enable(self, webhook: int) -> Remote:
        """Start a disabled webhook again."""
        return Remote(self._registry._call("POST", f"/webhooks/{int(webhook)}/enable"))

    def deliveries(self, webhook: int, *, limit: int = 100) -> list[Remote]:
        """The newest attempts, newest first."""
        found = self._registry._call(
            "GET", f"/webhooks/{int(webhook)}/deliveries", params={"limit": int(limit)}
        )
        return [Remote(d) for d in found["deliveries"]]

    def redeliver(self, delivery: int) -> Remote:
        """Send an attempt's event again now."""
        path = f"/webhook-deliveries/{int(delivery)}/redeliver"
        return Remote(self._registry._call("POST", path, timeout=httpx.Timeout(45.0, connect=5.0)))

    def list(self) -> list[Remote]:
        """Webhooks not removed."""
        return [Remote(w) for w in self._registry._all("/webhooks", "webhooks")]


class RemoteLedger:
    """The server's signed checkpoint and its proofs, unchecked: checking them against a
    pinned key is :mod:`registry_pipeline.tlog`'s."""

    def __init__(self, registry: RemoteRegistry) -> None:
        self._r = registry

    def info(self) -> Remote:
        """The server's version and the checkpoint key it signs with (``null``: none)."""
        return Remote(self._r._call("GET", "/info"))

    def checkpoint(self) -> str:
        """The current checkpoint as the signed note the server sent."""
        note: str = self._r._call("GET", "/ledger/checkpoint", text=True)
        return note

    def inclusion(self, seq: int, *, tree_size: int | None = None) -> Remote:
        """The proof that event ``seq`` is in the tree of ``tree_size`` events."""
        params = {"seq": int(seq), **({"tree_size": int(tree_size)} if tree_size else {})}
        return Remote(self._r._call("GET", "/ledger/proof/inclusion", params=params))

    def consistency(self, first: int, *, second: int | None = None) -> Remote:
        """The proof that the tree of ``second`` events extends the tree of ``first``."""
        params = {"first": int(first), **({"second": int(second)} if second else {})}
        return Remote(self._r._call("GET", "/ledger/proof/consistency", params=params))


def _seg(text: str) -> str:
    """One URL path segment (``@`` kept readable)."""
    return quote(text, safe="@")
