"""The API's answers, as the OpenAPI document states them.

Each model describes the document a use case's result gives (``to_dict()``); the routes
return those documents as they are and the models only document them, so a field a result
gains without its model here fails the schema tests (Schemathesis checks every response
against these) instead of slipping out unannounced.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    """A document whose fields are checked but which may carry more (free-form facts)."""

    model_config = ConfigDict(extra="allow")


class Health(_Doc):
    ok: bool
    ledger_seq: int


class Auth(_Open):
    method: str
    principal: str


class WhoAmIDoc(_Doc):
    principal: str
    auth: Auth
    roles: list[str]


class TokenInfoDoc(_Doc):
    id: int
    principal: str
    name: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None


class TokenList(_Doc):
    tokens: list[TokenInfoDoc]
    next_page_token: str | None


class TokenCreatedDoc(_Doc):
    id: int
    token: str
    principal: str
    name: str
    expires_at: str | None


class CatalogDoc(_Doc):
    document: dict[str, Any]


class CatalogRecorded(_Doc):
    catalog: str
    changed: bool
    entries: int


class AnchorDoc(_Doc):
    seq: int
    hash: str
    recorded_at: str | None
    anchor: str


class AnchorCheckDoc(_Doc):
    seq: int | None
    hash: str
    found_at: int | None


class Verdict(_Doc):
    ok: bool
    events: int
    head: str
    broken_at: int | None
    problem: str | None
    anchor: AnchorCheckDoc | None = None


class EntryRow(_Doc):
    entry: str
    kind: str
    owner: str
    versions: int
    latest: int | None
    staging: int | None
    production: int | None


class EntryList(_Doc):
    entries: list[EntryRow]
    next_page_token: str | None


class SearchRow(_Doc):
    entry: str
    version: int
    digest: str
    stage: str | None
    params: dict[str, Any]
    created_at: str
    created_by: str
    metric: float | None


class SearchDoc(_Doc):
    versions: list[SearchRow]
    truncated: bool
    ledger_seq: int
    next_page_token: str | None


class RegisteredDoc(_Doc):
    entry: str
    version: int
    digest: str
    size: int
    files: int
    created: bool
    format: str | None
    upstream: list[str]
    warnings: list[str]


class Link(_Doc):
    entry: str
    version: int
    relation: str
    digest: str
    kind: str | None


class EvalDoc(_Doc):
    suite: str
    suite_version: int
    metrics: dict[str, float]
    produced_at: str
    recorded_by: str


class VersionDoc(_Doc):
    entry: str
    kind: str
    owner: str
    version: int
    digest: str
    stage: str | None
    size: int
    file_count: int
    source: str
    params: dict[str, Any]
    format: dict[str, Any]
    origin: dict[str, Any] | None
    created_at: str
    created_by: str
    lineage: list[Link]
    evals: list[EvalDoc]
    ab_tests: list[dict[str, Any]]
    card: dict[str, Any] | None


class Downstream(_Doc):
    entry: str
    version: int
    relation: str


class LineageDoc(_Doc):
    entry: str
    version: int
    digest: str
    upstream: list[dict[str, Any]]
    downstream: list[Downstream]


class CardDoc(_Doc):
    entry: str
    version: int
    card: dict[str, Any] | None
    front_matter: dict[str, Any] | None
    set_by: str | None
    set_at: str | None
    markdown: str


class CardSetDoc(_Doc):
    entry: str
    version: int
    card: dict[str, Any]
    sections: dict[str, list[str]] | None = None


class EvalRecordedDoc(_Open):
    id: int
    entry: str
    version: int
    suite: str
    suite_version: int
    metrics: dict[str, float]


class RequestDoc(_Doc):
    request: int
    entry: str
    version: int
    digest: str
    target: str
    requester: str
    reason: str
    status: str
    created_at: str


class RequestList(_Doc):
    requests: list[RequestDoc]
    next_page_token: str | None


class RequestStatusDoc(_Doc):
    request: int
    status: str


class Gate(_Doc):
    name: str
    passed: bool
    detail: str


class GateReportDoc(_Doc):
    request: int
    entry: str
    version: int
    target: str
    passed: bool
    gates: list[Gate]


class ToSignDoc(_Doc):
    payload: dict[str, Any]
    message: str
    signed_at: str
    expires_in_seconds: int


class DecidedDoc(_Doc):
    request: int
    decision: str
    approver: str
    signed: bool
    replaced: bool | None = None


class WithdrawnDoc(_Doc):
    request: int
    entry: str
    version: int
    target: str
    status: str
    by: str
    reason: str


class StageChangeDoc(_Doc):
    entry: str
    stage: str
    version: int | None
    previous: int | None
    request: int | None
    approved_by: list[str]
    ledger_seq: int


class Pinned(_Doc):
    entry: str
    version: int
    digest: str
    kind: str | None = None


class AsOf(_Doc):
    time: str
    ledger_seq: int
    ledger_head: str


class ResolutionDoc(_Doc):
    workload: str
    stack: Pinned
    components: list[Pinned]
    approved_by: list[str]
    since: str
    request: int | None
    ledger_seq: int
    as_of: AsOf


class HistoryRow(_Doc):
    entry: str
    version: int
    stage: str
    effective_from: str
    effective_to: str | None
    actor: str
    reason: str
    cause: str
    request: int | None
    approved_by: list[str]
    ledger_seq: int


class HistoryDoc(_Doc):
    entry: str
    history: list[HistoryRow]
    next_page_token: str | None


class ReviewRow(_Doc):
    entry: str
    version: int
    what: str
    age_days: float | None
    limit_days: float
    since: str | None
    model: str | None = None


class ReviewDue(_Doc):
    due: list[ReviewRow]
    next_page_token: str | None


class Written(_Doc):
    written: list[str]


class LatestPinsDoc(_Doc):
    entry: str
    pins: list[str]
    missing: list[str]


class StackDueDoc(_Doc):
    stack: str
    pins: list[str] | None


class Check(_Doc):
    name: str
    passed: bool
    severity: str
    detail: str


class ReadinessDoc(_Doc):
    entry: str
    version: int | None
    checks: list[Check]


def ok(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry documenting a route's success answer as ``model``."""
    return {status: {"model": model, "description": "OK" if status == 200 else "Created"}}


class FeedEventDoc(_Doc):
    type: str
    seq: int
    recorded_at: str
    principal: str
    subject: str
    data: dict[str, Any]
    auth_method: str | None


class FeedDoc(_Doc):
    events: list[FeedEventDoc]
    cursor: int
    head: int


class WebhookDoc(_Doc):
    id: int
    url: str
    events: list[str]
    entry: str | None
    workload: str | None
    status: str
    delivered_seq: int
    failures: int
    failing_since: str | None
    next_attempt_at: str | None
    created_at: str
    created_by: str


class WebhookCreatedDoc(WebhookDoc):
    secret: str


class WebhookList(_Doc):
    webhooks: list[WebhookDoc]
    next_page_token: str | None


class DeliveryDoc(_Doc):
    id: int
    webhook: int
    seq: int
    webhook_id: str
    attempt: int
    redelivery: bool
    attempted_at: str
    status_code: int | None
    latency_ms: float
    error: str | None
    ok: bool


class DeliveryList(_Doc):
    deliveries: list[DeliveryDoc]


class InclusionDoc(_Doc):
    seq: int
    leaf_index: int
    tree_size: int
    event_hash: str
    event: dict[str, Any]
    hashes: list[str]


class ConsistencyDoc(_Doc):
    first: int
    second: int
    hashes: list[str]


class CheckpointKeyDoc(_Doc):
    origin: str
    key: str
    """The verifier key (``name+keyid+base64``) to pin."""


class InfoDoc(_Doc):
    version: str
    checkpoint: CheckpointKeyDoc | None
