"""Deployment locks: each workload target's manifest, rewritten after production moves."""

from __future__ import annotations

from registry_pipeline.deployments import (
    FORMAT,
    manifest_document,
    target_path,
    workloads_of,
    write_manifest,
)
from registry_pipeline.errors import NotFound
from registry_pipeline.service.context import Context


def write_deployments(ctx: Context, stack: str | None = None) -> list[str]:
    """Rewrite the deployment manifest of every target of every workload served by
    ``stack`` (all workloads when ``None``) from the store; returns the paths written."""
    from registry_pipeline.service.queries import resolve

    with ctx.store.read() as conn:
        catalog = ctx.catalog(conn)
    names = workloads_of(catalog, stack) if stack is not None else sorted(catalog.workloads)
    written = []
    for name in names:
        workload = catalog.workload(name)
        try:
            resolved = resolve(ctx, name).to_dict()
        except NotFound:
            resolved = None
        for target in workload.targets:
            path = target_path(ctx.deployments, target.manifest)
            document = (
                manifest_document(resolved, target.name)
                if resolved is not None
                else {
                    "format": FORMAT,
                    "workload": name,
                    "target": target.name,
                    "stack": None,
                    "components": [],
                }
            )
            write_manifest(path, document)
            written.append(str(path))
    return written
