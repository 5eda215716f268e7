"""The API's request bodies and its problem document, as the OpenAPI document states them."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from registry_pipeline.server import _errors

MAX_TEXT = 4096
API = "/api/v1"
"""Where the API's routes are, under one version."""
NAME = r"^[a-z0-9][a-z0-9._-]{0,127}$"
"""An entry or workload name (:data:`registry_pipeline.core.kinds.NAME_PATTERN`)."""
REF = r"^[a-z0-9][a-z0-9._-]{0,127}(@[a-z0-9]{1,32})?$"
"""``ENTRY``, ``ENTRY@VERSION`` or ``ENTRY@STAGE``."""
STAGE = r"^(candidate|staging|production|archived)$"
ID = {"ge": 1, "le": 2**63 - 1}
TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"
"""An instant as the registry writes it."""
Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        description="Why: one line of printable text",
    ),
]


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and the error class (``code``) behind it."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": _errors.TITLES[status]}
    for status in (400, 401, 403, 404, 409, 413, 422, 429, 500)
}


def problem_media_type(document: dict[str, Any]) -> dict[str, Any]:
    """Error responses are ``application/problem+json`` in the document, as on the wire."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return document


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromoteBody(_Body):
    """Open a promotion request."""

    ref: str = Field(pattern=REF, max_length=300, description="ENTRY@VERSION")
    to: str = Field(pattern=STAGE, description="The target stage")
    reason: Reason


class ReasonBody(_Body):
    """A decision's reason."""

    reason: Reason


class RollbackBody(_Body):
    """Roll a stage back to its previous holder."""

    stage: str = Field(pattern=STAGE)
    reason: Reason


class CatalogBody(_Body):
    """A reviewed catalog: the merged document ``registry init --catalog`` read."""

    document: dict[str, Any]
    source: str = Field(default="api", max_length=1024)


class RegisterBody(_Body):
    """A version to register: the source as the client inspected it, and its lineage."""

    entry: str = Field(pattern=NAME)
    inspection: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    upstream: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=64
    )


class StackBody(_Body):
    """A stack version: an exact version of each component."""

    stack: str = Field(pattern=NAME)
    pins: list[Annotated[str, Field(max_length=300)]] = Field(min_length=1, max_length=64)


class EvalsBody(_Body):
    """Eval results of one suite version, in the registry's own shape."""

    suite: str = Field(pattern=REF, max_length=300)
    results: dict[str, Any]


class TokenBody(_Body):
    """Mint a token."""

    principal: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"
    )
    name: str = Field(default="cli", pattern=NAME)
    expires_in: str = Field(
        default="90d", pattern=r"^([1-9][0-9]?|[1-3][0-9][0-9]|400)d$|^[1-9][0-9]{0,2}h$"
    )


class ApproveBody(_Body):
    """An approval; where the rule needs signed approvals, the Ed25519 signature (base64) of
    the ``message`` that ``to-sign`` gave, with the ``signed_at`` it gave."""

    reason: Reason
    signature: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9+/]{86}==$", description="base64 Ed25519 signature"
    )
    signed_at: str | None = Field(default=None, pattern=TIME)


class CardBody(_Body):
    """A model card file's text: a YAML/JSON mapping of fields, or a Hugging Face
    ``README.md`` (``markdown``: the file's name said Markdown)."""

    text: str = Field(min_length=1, max_length=4 * 1024 * 1024)
    markdown: bool = False


class ABBody(_Body):
    """An online A/B test result document (the file ``registry eval ab`` reads)."""

    result: dict[str, Any]


class DeployBody(_Body):
    """Rewrite the deployment manifests of the workloads a stack serves (or all)."""

    stack: str | None = Field(default=None, pattern=NAME)


class WebhookBody(_Body):
    """Subscribe a receiver to ledger events (of one entry or workload, when given)."""

    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    events: list[Annotated[str, Field(pattern=r"^(\*|[a-z]+\.(\*|[a-z_]+))$")]] = Field(
        min_length=1, max_length=40
    )
    entry: str | None = Field(default=None, pattern=NAME)
    workload: str | None = Field(default=None, pattern=NAME)
