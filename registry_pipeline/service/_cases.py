"""The facade's use-case modules, each imported when a method first uses it.

A command then pays only for the modules of its own use case: ``registry resolve`` reads,
and never loads the approval, webhook, registration or catalog-loading code (nor what
they import). Type checkers see the modules themselves.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "approval_cases",
    "audit_cases",
    "catalog_cases",
    "content_cases",
    "deployment_cases",
    "event_cases",
    "evidence_cases",
    "identity",
    "pipeline_cases",
    "promotion_cases",
    "query_cases",
    "registration_cases",
    "review_cases",
    "search_cases",
    "transparency_cases",
    "webhook_cases",
]


class _OnFirstUse:
    """Stands for the module ``name`` of the service and imports it on first use."""

    def __init__(self, name: str) -> None:
        self._module = f"registry_pipeline.service.{name}"

    def __getattr__(self, attr: str) -> Any:
        return getattr(import_module(self._module), attr)

    def __repr__(self) -> str:
        return f"<{self._module}, imported on first use>"


if TYPE_CHECKING:
    from registry_pipeline.service import approvals as approval_cases
    from registry_pipeline.service import audit as audit_cases
    from registry_pipeline.service import catalog_sync as catalog_cases
    from registry_pipeline.service import content as content_cases
    from registry_pipeline.service import deployments as deployment_cases
    from registry_pipeline.service import events as event_cases
    from registry_pipeline.service import evidence as evidence_cases
    from registry_pipeline.service import pipeline as pipeline_cases
    from registry_pipeline.service import promotion as promotion_cases
    from registry_pipeline.service import queries as query_cases
    from registry_pipeline.service import registration as registration_cases
    from registry_pipeline.service import review as review_cases
    from registry_pipeline.service import search as search_cases
    from registry_pipeline.service import tokens as identity
    from registry_pipeline.service import transparency as transparency_cases
    from registry_pipeline.service import webhooks as webhook_cases
else:
    approval_cases = _OnFirstUse("approvals")
    audit_cases = _OnFirstUse("audit")
    catalog_cases = _OnFirstUse("catalog_sync")
    content_cases = _OnFirstUse("content")
    deployment_cases = _OnFirstUse("deployments")
    event_cases = _OnFirstUse("events")
    evidence_cases = _OnFirstUse("evidence")
    identity = _OnFirstUse("tokens")
    pipeline_cases = _OnFirstUse("pipeline")
    promotion_cases = _OnFirstUse("promotion")
    query_cases = _OnFirstUse("queries")
    registration_cases = _OnFirstUse("registration")
    review_cases = _OnFirstUse("review")
    search_cases = _OnFirstUse("search")
    transparency_cases = _OnFirstUse("transparency")
    webhook_cases = _OnFirstUse("webhooks")
