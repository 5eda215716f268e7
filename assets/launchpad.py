"""Jobs people launch from the UI's launchpad, with typed config, and the jobs sensors use.
Every op turns a registry error into a step failure through one decorator,
:func:`translate_registry_errors`.

The Dagster web UI has no identity of its own, so launchpad jobs take the acting person in
config; policies that need proof of identity require signed approvals (CLI ``--key``).
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import dagster as dg
from pydantic import Field

from registry_pipeline.assets.resources import RegistryResource
from registry_pipeline.core.promotion import RequestStatus
from registry_pipeline.errors import GateRefused, RegistryError

P = ParamSpec("P")
R = TypeVar("R")


class RequestPromotionConfig(dg.Config):  # type: ignore[misc]
    """Open a promotion request."""

    version: str = Field(description="ENTRY@VERSION to promote, e.g. support-bot@3")
    to: str = Field(description="Target stage: staging, production or archived")
    reason: str = Field(description="Why this version should move")
    actor: str = Field(description="Who is asking (e.g. alice@example.com)")


class DecisionConfig(dg.Config):  # type: ignore[misc]
    """Approve or reject a promotion request."""

    request: int = Field(description="The request id")
    reason: str = Field(description="Why")
    actor: str = Field(description="Who decides (an approver in the policy)")


class ApplyConfig(dg.Config):  # type: ignore[misc]
    """Apply a promotion request whose gates pass."""

    request: int = Field(description="The request id")


class RollbackConfig(dg.Config):  # type: ignore[misc]
    """Return a stage to its previous holder."""

    entry: str = Field(description="The entry, e.g. support-bot")
    stage: str = Field(default="production", description="staging or production")
    reason: str = Field(description="Why")
    actor: str = Field(description="Who rolls back (approver, admin or owner)")


class LandingProblemConfig(dg.Config):  # type: ignore[misc]
    """A training output the registry could not take, and why."""

    output: str
    problem: str


def translate_registry_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with every registry error turned into a step failure that says what is
    wrong; a refused promotion lists each gate's verdict as metadata."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RegistryError as e:
            metadata = {}
            if isinstance(e, GateRefused):
                metadata = {
                    g.name: dg.MetadataValue.text(("PASS " if g.passed else "FAIL ") + g.detail)
                    for g in e.gates
                }
            raise dg.Failure(description=str(e), metadata=metadata) from e

    return wrapper


@dg.op(description="Open a promotion request.")
@translate_registry_errors
def request_promotion_op(
    context: dg.OpExecutionContext, config: RequestPromotionConfig, registry: RegistryResource
) -> None:
    request = registry.client(actor=config.actor).request_promotion(
        config.version, to=config.to, reason=config.reason
    )
    context.log.info(f"request {request.id} opened: {config.version} -> {config.to}")


@dg.op(description="Approve a promotion request.")
@translate_registry_errors
def approve_op(
    context: dg.OpExecutionContext, config: DecisionConfig, registry: RegistryResource
) -> None:
    registry.client(actor=config.actor).approve(config.request, reason=config.reason)
    context.log.info(f"request {config.request} approved by {config.actor}")


@dg.op(description="Reject a promotion request.")
@translate_registry_errors
def reject_op(
    context: dg.OpExecutionContext, config: DecisionConfig, registry: RegistryResource
) -> None:
    registry.client(actor=config.actor).reject(config.request, reason=config.reason)
    context.log.info(f"request {config.request} rejected by {config.actor}")


@dg.op(description="Apply a promotion request; the gates are re-checked in the transaction.")
@translate_registry_errors
def apply_promotion_op(
    context: dg.OpExecutionContext, config: ApplyConfig, registry: RegistryResource
) -> None:
    client = registry.client()
    status = RequestStatus(client.request_status(config.request))
    if status is not RequestStatus.PENDING:
        context.log.info(f"request {config.request} is already {status}; nothing to apply")
        return
    change = client.apply(config.request)
    context.log.info(f"{change.entry}@{change.version} is now in {change.stage}")


@dg.op(description="Roll a stage back to its previous holder.")
@translate_registry_errors
def rollback_op(
    context: dg.OpExecutionContext, config: RollbackConfig, registry: RegistryResource
) -> None:
    change = registry.client(actor=config.actor).rollback(
        config.entry, stage=config.stage, reason=config.reason
    )
    context.log.info(f"{change.entry} {change.stage} rolled back to v{change.version}")


@dg.op(description="Report a training output the registry refused.")
def landing_problem_op(config: LandingProblemConfig) -> None:
    raise dg.Failure(description=f"training output {config.output} refused: {config.problem}")


@dg.job(description="Open a promotion request (launchpad).")
def request_promotion() -> None:
    request_promotion_op()


@dg.job(description="Approve a promotion request (launchpad).")
def approve_request() -> None:
    approve_op()


@dg.job(description="Reject a promotion request (launchpad).")
def reject_request() -> None:
    reject_op()


@dg.job(description="Apply a promotion request; launched by the gate sensor when it passes.")
def apply_promotion() -> None:
    apply_promotion_op()


@dg.job(description="Roll a stage back to its previous holder (launchpad).")
def rollback_stage() -> None:
    rollback_op()


@dg.job(description="A training output in the landing folder that could not be registered.")
def landing_rejected() -> None:
    landing_problem_op()


JOBS = [
    request_promotion,
    approve_request,
    reject_request,
    apply_promotion,
    rollback_stage,
    landing_rejected,
]
#: The jobs offered when Dagster works through a registry server: those a service account
#: may run. Requesting, approving, rejecting and rolling back stand for a person, who does
#: them as themselves (CLI or web UI), so they are left out.
SERVICE_JOBS = [apply_promotion, landing_rejected]
