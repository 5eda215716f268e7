"""Load the catalog (entries, workloads, policy) from a YAML file or a folder of them.

The YAML is a trust boundary: pydantic validates its shape, then cross-references are
checked. Every error is one line naming the file, the entry and the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from registry_pipeline.core.catalog import (
    DEFAULT_PERMISSIONS,
    Catalog,
    CatalogEntry,
    DeploymentTarget,
    Operation,
    Policy,
    Role,
    RuleOverride,
    StageRule,
    Workload,
)
from registry_pipeline.core.digests import canonical_json
from registry_pipeline.core.evals import Threshold, parse_threshold
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput, CatalogError, NotFound
from registry_pipeline.inputs.documents import first_problem, read_yaml, validation_message
from registry_pipeline.inputs.names import Name, RiskClass

MAX_CATALOG_BYTES = 16 * 1024 * 1024
Text = Annotated[str, StringConstraints(max_length=20_000)]
Person = Annotated[str, StringConstraints(min_length=1, max_length=256, strip_whitespace=True)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class EntryModel(_Model):
    kind: EntryKind
    owner: Person
    description: Text = ""
    license: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    risk_class: RiskClass | None = None
    intended_use: Text | None = None
    upstream: list[Name] = Field(default_factory=list)
    components: list[Name] = Field(default_factory=list)
    evaluates: list[Name] = Field(default_factory=list)
    metrics: dict[str, MetricRange] = Field(default_factory=dict)
    tags: dict[Annotated[str, StringConstraints(max_length=128)], Text] = Field(
        default_factory=dict
    )


class MetricRange(_Model):
    """The range a suite's metric can take, e.g. ``{min: 0, max: 1}`` for accuracy."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    min: float | None = None
    max: float | None = None


class TargetModel(_Model):
    manifest: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class WorkloadModel(_Model):
    stack: Name
    targets: dict[Name, TargetModel] = Field(default_factory=dict)


Thresholds = dict[str, dict[str, str]]


class RuleModel(_Model):
    approvals: Annotated[int, Field(ge=0, le=20)] | None = None
    signed_approvals: bool | None = None
    evals: Thresholds | None = None
    card_fields: list[FieldName] | None = None
    licenses: list[str] | None = None
    max_eval_age_days: Annotated[float, Field(gt=0, le=36500)] | None = None
    review_every_days: Annotated[float, Field(gt=0, le=36500)] | None = None
    require_ab_win: bool | None = None


class StageModel(RuleModel):
    by_risk_class: dict[RiskClass, RuleModel] = Field(default_factory=dict)


class PolicyModel(_Model):
    approvers: list[Person] = Field(default_factory=list)
    admins: list[Person] = Field(default_factory=list)
    approver_keys: dict[Person, Annotated[str, StringConstraints(max_length=512)]] = Field(
        default_factory=dict
    )
    registrars: list[Person] = Field(default_factory=list)
    approvers_by_workload: dict[Name, list[Person]] = Field(default_factory=dict)
    approvers_by_risk_class: dict[RiskClass, list[Person]] = Field(default_factory=dict)
    permissions: dict[Operation, list[Role]] = Field(default_factory=dict)
    separate_registrant: bool = False
    identity: Literal["local", "authenticated"] = "local"
    public: list[Name] = Field(default_factory=list, max_length=1000)
    stages: dict[Stage, StageModel] = Field(default_factory=dict)


class CatalogModel(_Model):
    entries: dict[Name, EntryModel] = Field(default_factory=dict)
    workloads: dict[Name, WorkloadModel] = Field(default_factory=dict)
    policy: PolicyModel | None = None


def load_catalog(path: str | Path) -> tuple[Catalog, dict[str, Any]]:
    """Load and validate the catalog at ``path`` (one YAML file or a folder of them).

    Returns:
        The validated :class:`Catalog` and the merged raw document (stored with its digest).

    Raises:
        CatalogError: a file is unreadable or malformed, a name is defined twice, or a
            cross-reference does not resolve. The message names the file, entry and key.
    """
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise CatalogError(f"{root}: no .yaml files in this folder", path=str(root))
    elif root.is_file():
        files = [root]
    else:
        raise CatalogError(
            f"catalog {str(root)!r} does not exist; pass a YAML file or a folder of them",
            path=str(root),
        )
    merged: dict[str, Any] = {"entries": {}, "workloads": {}}
    origin: dict[str, Path] = {}
    policy_from: Path | None = None
    for file in files:
        document = _read_yaml(file)
        unknown = sorted(str(k) for k in set(document) - {"entries", "workloads", "policy"})
        if unknown:
            raise CatalogError(
                f"{file}: unknown top-level key {unknown[0]!r}; use entries, workloads, policy",
                path=str(file),
            )
        for section in ("entries", "workloads"):
            items = document.get(section) or {}
            if not isinstance(items, dict):
                raise CatalogError(f"{file}: {section} must be a mapping", path=str(file))
            for name, body in items.items():
                key = f"{section}.{name}"
                if key in origin:
                    raise CatalogError(
                        f"{file}: {section[:-1]} {name!r} is already defined in {origin[key]}",
                        path=str(file),
                        entry=str(name),
                    )
                origin[key] = file
                merged[section][name] = body
        if document.get("policy") is not None:
            if policy_from is not None:
                raise CatalogError(
                    f"{file}: policy is already defined in {policy_from}", path=str(file)
                )
            policy_from = file
            merged["policy"] = document["policy"]
    try:
        model = CatalogModel.model_validate(merged)
    except ValidationError as e:
        raise _explain(e, origin, policy_from) from e
    catalog = _build(model, origin, policy_from)
    return catalog, merged


#: The catalog key that gives someone each role, least privileged first (an entry's owner
#: is ``entries.<name>.owner``; scoped approvers are listed by :func:`granting_keys`).
ROLE_KEYS: Mapping[Role, str] = {
    Role.REGISTRAR: "policy.registrars",
    Role.APPROVER: "policy.approvers",
    Role.ADMIN: "policy.admins",
    Role.OWNER: "entries.{entry}.owner",
}


def granting_keys(catalog: Catalog, operation: Operation, entry: str) -> list[str]:
    """The catalog keys under which naming someone lets them perform ``operation`` on
    ``entry`` (per ``policy.permissions``), least privileged first. For ``approve``, the
    approvers scoped to the entry's workloads and risk class are listed too."""
    allowed = catalog.policy.permissions.get(operation, DEFAULT_PERMISSIONS[operation])
    keys: list[str] = []
    for role, key in ROLE_KEYS.items():
        if role not in allowed:
            continue
        keys.append(key.format(entry=entry))
        if role is Role.APPROVER and operation is Operation.APPROVE:
            keys += [
                f"policy.approvers_by_workload.{w}" for w in sorted(catalog.workloads_of(entry))
            ]
            risk = catalog.risk_class(entry)
            if risk:
                keys.append(f"policy.approvers_by_risk_class.{risk}")
    return keys


def catalog_digest(document: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a merged catalog document."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def catalog_from_document(document: Mapping[str, Any]) -> Catalog:
    """Rebuild a :class:`Catalog` from a stored merged document."""
    try:
        model = CatalogModel.model_validate(document)
    except ValidationError as e:
        raise _explain(e, {}, None) from e
    return _build(model, {}, None)


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        document = read_yaml(file, where=str(file), limit=MAX_CATALOG_BYTES)
    except (BadInput, NotFound) as e:
        raise CatalogError(str(e), path=str(file)) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise CatalogError(f"{file}: the top level must be a mapping", path=str(file))
    return document


def _explain(
    error: ValidationError, origin: Mapping[str, Path], policy_from: Path | None
) -> CatalogError:
    loc = [str(p) for p in first_problem(error)["loc"]]
    file: Path | str = "catalog"
    entry = None
    if len(loc) >= 2 and loc[0] in ("entries", "workloads"):
        file = origin.get(f"{loc[0]}.{loc[1]}", "catalog")
        entry = loc[1]
    elif loc and loc[0] == "policy" and policy_from is not None:
        file = policy_from
    return CatalogError(validation_message(error, str(file)), path=str(file), entry=entry)


def _thresholds(raw: Thresholds, where: str) -> dict[str, tuple[Threshold, ...]]:
    out: dict[str, tuple[Threshold, ...]] = {}
    for suite, metrics in raw.items():
        if not metrics:
            raise CatalogError(f"{where}.{suite}: name at least one metric threshold")
        try:
            out[suite] = tuple(parse_threshold(m, t) for m, t in metrics.items())
        except BadInput as e:
            raise CatalogError(f"{where}.{suite}: {e}") from None
    return out


def _override(model: RuleModel, where: str) -> RuleOverride:
    return RuleOverride(
        approvals=model.approvals,
        signed_approvals=model.signed_approvals,
        evals=None if model.evals is None else _thresholds(model.evals, f"{where}.evals"),
        card_fields=None if model.card_fields is None else tuple(model.card_fields),
        licenses=None if model.licenses is None else tuple(model.licenses),
        max_eval_age_days=model.max_eval_age_days,
        review_every_days=model.review_every_days,
        require_ab_win=model.require_ab_win,
    )


def _build(model: CatalogModel, origin: Mapping[str, Path], policy_from: Path | None) -> Catalog:
    def fail(section: str, name: str, message: str) -> CatalogError:
        file = origin.get(f"{section}.{name}", "catalog")
        return CatalogError(f"{file}: {section}.{name}: {message}", path=str(file), entry=name)

    entries: dict[str, CatalogEntry] = {}
    for name, e in model.entries.items():
        for key in ("upstream", "components", "evaluates"):
            for ref in getattr(e, key):
                if ref not in model.entries:
                    raise fail("entries", name, f"{key} names unknown entry {ref!r}")
                if ref == name:
                    raise fail("entries", name, f"{key} names the entry itself")
        if e.components and e.kind is not EntryKind.STACK:
            raise fail("entries", name, "components: only a stack has components")
        if e.kind is EntryKind.STACK and not e.components:
            raise fail("entries", name, "components: a stack pins at least one component")
        if any(model.entries[c].kind is EntryKind.STACK for c in e.components):
            raise fail("entries", name, "components: a stack cannot contain another stack")
        for key in ("evaluates", "metrics"):
            if getattr(e, key) and e.kind is not EntryKind.EVAL_SUITE:
                raise fail("entries", name, f"{key}: only an eval_suite evaluates entries")
        for metric, bounds in e.metrics.items():
            if bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
                raise fail("entries", name, f"metrics.{metric}: min is above max")
        entries[name] = CatalogEntry(
            name=name,
            kind=e.kind,
            owner=e.owner,
            description=e.description,
            license=e.license,
            risk_class=e.risk_class,
            intended_use=e.intended_use,
            upstream=tuple(e.upstream),
            components=tuple(e.components),
            evaluates=tuple(e.evaluates),
            metrics={m: (b.min, b.max) for m, b in e.metrics.items()},
            tags=dict(e.tags),
        )
    _check_acyclic(entries, origin)
    workloads: dict[str, Workload] = {}
    for name, w in model.workloads.items():
        if w.stack not in entries:
            raise fail("workloads", name, f"stack names unknown entry {w.stack!r}")
        if entries[w.stack].kind is not EntryKind.STACK:
            raise fail("workloads", name, f"stack: {w.stack!r} is a {entries[w.stack].kind}")
        targets = []
        for target, t in w.targets.items():
            manifest = PurePosixPath(t.manifest)
            if manifest.is_absolute() or ".." in manifest.parts or "\\" in t.manifest:
                raise fail(
                    "workloads",
                    name,
                    f"targets.{target}.manifest must be a relative path inside the "
                    "deployments folder, without '..'",
                )
            targets.append(DeploymentTarget(name=target, manifest=t.manifest))
        workloads[name] = Workload(name=name, stack=w.stack, targets=tuple(targets))
    policy = _policy(model.policy, entries, workloads, policy_from)
    return Catalog(entries=entries, workloads=workloads, policy=policy)


def _policy(
    model: PolicyModel | None,
    entries: Mapping[str, CatalogEntry],
    workloads: Mapping[str, Workload],
    policy_from: Path | None,
) -> Policy:
    if model is None:
        return Policy()
    file = policy_from or "catalog"
    stages: dict[Stage, StageRule] = {}
    by_risk: dict[Stage, dict[str, RuleOverride]] = {}
    for stage, s in model.stages.items():
        where = f"{file}: policy.stages.{stage}"
        if stage is Stage.CANDIDATE:
            raise CatalogError(f"{where}: versions start as candidates; no rule applies")
        rule = _override(s, where).apply(StageRule())
        for suite in rule.evals:
            if suite not in entries:
                raise CatalogError(f"{where}.evals: unknown eval suite {suite!r}")
            if entries[suite].kind is not EntryKind.EVAL_SUITE:
                raise CatalogError(f"{where}.evals: {suite!r} is a {entries[suite].kind}")
        stages[stage] = rule
        by_risk[stage] = {
            risk: _override(r, f"{where}.by_risk_class.{risk}")
            for risk, r in s.by_risk_class.items()
        }
        for risk, override in by_risk[stage].items():
            for suite in override.evals or {}:
                if suite not in entries or entries[suite].kind is not EntryKind.EVAL_SUITE:
                    raise CatalogError(
                        f"{where}.by_risk_class.{risk}.evals: unknown eval suite {suite!r}"
                    )
    for workload in model.approvers_by_workload:
        if workload not in workloads:
            raise CatalogError(
                f"{file}: policy.approvers_by_workload: unknown workload {workload!r}"
            )
    for workload in model.public:
        if workload not in workloads:
            raise CatalogError(f"{file}: policy.public: unknown workload {workload!r}")
    return Policy(
        public=frozenset(model.public),
        approvers=frozenset(model.approvers),
        admins=frozenset(model.admins),
        registrars=frozenset(model.registrars),
        approvers_by_workload={w: frozenset(p) for w, p in model.approvers_by_workload.items()},
        approvers_by_risk_class={r: frozenset(p) for r, p in model.approvers_by_risk_class.items()},
        permissions={
            **DEFAULT_PERMISSIONS,
            **{o: frozenset(r) for o, r in model.permissions.items()},
        },
        separate_registrant=model.separate_registrant,
        authenticated_only=model.identity == "authenticated",
        stages=stages,
        by_risk_class=by_risk,
        approver_keys=dict(model.approver_keys),
    )


def _check_acyclic(entries: Mapping[str, CatalogEntry], origin: Mapping[str, Path]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            file = origin.get(f"entries.{name}", "catalog")
            raise CatalogError(f"{file}: entries.{name}: lineage cycle {cycle}", entry=name)
        state[name] = 1
        entry = entries[name]
        for ref in (*entry.upstream, *entry.components):
            visit(ref, [*path, name])
        state[name] = 2

    for name in entries:
        visit(name, [])
