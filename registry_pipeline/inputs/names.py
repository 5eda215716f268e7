"""Names in the documents users hand the registry, validated by the core's one rule.

:func:`registry_pipeline.core.kinds.check_name` is the entry-name rule the registry applies
everywhere (CLI arguments, references, A/B results); :data:`Name` applies the same rule
inside pydantic models (the catalog, landing manifests), so a name that YAML accepts is a
name every command accepts. Risk classes likewise come from the core's one list.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from registry_pipeline.core.catalog import check_risk_class
from registry_pipeline.core.kinds import check_name


def _name(value: str) -> str:
    return check_name(value, what="name")


#: An entry, workload or deployment-target name (:func:`check_name`'s rule).
Name = Annotated[str, AfterValidator(_name)]

#: A risk class of the policy (:data:`registry_pipeline.core.catalog.RISK_CLASSES`).
RiskClass = Annotated[str, AfterValidator(check_risk_class)]
