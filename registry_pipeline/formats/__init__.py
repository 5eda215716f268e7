"""Artifact formats: read what a source folder (or file) is, without loading any weights.

:func:`detect` recognises, in this order of precedence:

========================= ==========================================================
format                    recognised by
========================= ==========================================================
``provider-model``        ``provider.yaml`` / ``provider.yml``
``peft-lora``             ``adapter_config.json`` with ``peft_type`` LORA
``sentence-transformers`` ``modules.json``
``huggingface-model``     ``config.json`` naming ``model_type`` or ``architectures``
``retrieval-index``       ``index.json`` with an ``embedding_model``
``prompt-template``       ``prompt.json`` / ``prompt.yaml`` / ``prompt.yml`` + template
``files``                 anything else (facts ``{}``, or weight facts for loose
                          ``*.safetensors``)
========================= ==========================================================

Whatever the format, a ``README.md`` with front matter is read as a model card (``card``,
``model-index`` evals, base_model / datasets hints) and every ``results*.json`` that is an
lm-evaluation-harness results file adds its evals. A known file that is malformed raises
:class:`~registry_pipeline.errors.BadInput` with one line naming the file; nothing else
escapes.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_pipeline.core.ab_tests import ABResult
from registry_pipeline.errors import BadInput, SourceError
from registry_pipeline.formats._common import json_safe, read_text, relative, unique_hints
from registry_pipeline.formats.ab_tests import parse_ab_result, read_ab_result
from registry_pipeline.formats.huggingface import (
    is_model_config,
    pickle_warnings,
    read_card,
    read_config,
    read_model,
)
from registry_pipeline.formats.lm_eval import (
    RESULTS_PATTERN,
    is_lm_eval,
    parse_lm_eval,
    read_lm_eval,
)
from registry_pipeline.formats.peft import read_adapter
from registry_pipeline.formats.prompts import find_variables_file, read_prompt
from registry_pipeline.formats.provider import (
    SPEC_NAMES,
    ProviderSpec,
    provider_facts,
    provider_spec_digest,
    read_provider_spec,
)
from registry_pipeline.formats.retrieval_index import (
    MANIFEST_NAME,
    IndexManifest,
    index_facts,
    index_hints,
    is_index_manifest,
    parse_index_manifest,
    read_index_manifest,
)
from registry_pipeline.formats.safetensors_files import read_files
from registry_pipeline.formats.sentence_transformers import (
    MODULES_NAME,
    read_sentence_transformer,
)
from registry_pipeline.inputs.documents import parse_json

__all__ = [
    "FORMATS",
    "ABResult",
    "Detected",
    "IndexManifest",
    "ProviderSpec",
    "detect",
    "parse_ab_result",
    "provider_spec_digest",
    "read_ab_result",
    "read_index_manifest",
    "read_lm_eval",
    "read_provider_spec",
]

FORMATS = (
    "huggingface-model",
    "peft-lora",
    "sentence-transformers",
    "provider-model",
    "prompt-template",
    "retrieval-index",
    "files",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Detected:
    """What a source is. Every field is JSON-ready.

    Attributes:
        format: one of :data:`FORMATS`.
        facts: the recorded fields of that format (see each reader's docstring).
        card: the README model card's data (without ``model-index``), or ``{}``.
        evals: eval results found: ``{"source": "model-index" | "lm-eval", "task",
            "dataset", "metrics": {name: float}, "produced_at": ISO 8601 or None,
            "details": {...}}``.
        upstream: hints of what the artifact derives from: ``{"name", "relation":
            "base_model" | "dataset" | "embedding_model" | "source_snapshot", "from":
            "FILE:KEY"}``.
        warnings: things worth a look that did not stop the reading.
    """

    format: str
    facts: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The detection as one JSON-ready mapping."""
        return {
            "format": self.format,
            "facts": self.facts,
            "card": self.card,
            "evals": self.evals,
            "upstream": self.upstream,
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class _Found:
    format: str = "files"
    facts: dict[str, Any] = field(default_factory=dict)
    upstream: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def detect(source: Path | str) -> Detected:
    """Read the known formats in a source folder (or single file).

    Unknown content is format ``"files"`` with facts ``{}``.

    Raises:
        BadInput: a known file is malformed (the one-line message names the file and what
            is wrong), or the source is missing or not a regular file or folder.
    """
    path = Path(source)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceError(f"source {str(path)!r} does not exist", path=str(path)) from None
    except OSError as e:
        raise SourceError(f"source {str(path)!r}: {e.strerror or e}", path=str(path)) from None
    try:
        if stat.S_ISDIR(mode):
            return _detect_folder(path)
        if stat.S_ISREG(mode):
            return _detect_file(path)
    except RecursionError:
        raise BadInput(f"{path.name}: nested too deeply to read") from None
    raise SourceError(f"source {str(path)!r} is not a regular file or folder", path=str(path))


def _detect_folder(root: Path) -> Detected:
    try:
        names = {p.name for p in root.iterdir() if p.is_file()}
    except OSError as e:
        raise SourceError(f"cannot read folder {str(root)!r}: {e.strerror or e}") from None
    found = _which(root, names)
    card_report = read_card(root / "README.md", "README.md") if "README.md" in names else None
    evals: list[dict[str, Any]] = []
    warnings = list(found.warnings)
    upstream = list(found.upstream)
    if card_report is not None:
        evals += card_report.evals
        upstream += card_report.upstream
        warnings += card_report.warnings
    for path in _results_files(root):
        evals += _lm_eval(root, path, warnings)
    return Detected(
        format=found.format,
        facts=json_safe(found.facts),
        card=card_report.card if card_report is not None else {},
        evals=evals,
        upstream=unique_hints(upstream),
        warnings=warnings,
    )


def _which(root: Path, names: set[str]) -> _Found:
    spec_name = next((n for n in SPEC_NAMES if n in names), None)
    if spec_name is not None:
        spec = read_provider_spec(root / spec_name, where=spec_name)
        return _Found(format="provider-model", facts=provider_facts(spec))
    if "adapter_config.json" in names:
        adapter = read_adapter(root, root)
        return _Found(
            format="peft-lora" if adapter.is_lora else "files",
            facts=adapter.facts,
            upstream=adapter.upstream,
            warnings=adapter.warnings,
        )
    if MODULES_NAME in names:
        facts, warnings = read_sentence_transformer(root)
        return _Found(format="sentence-transformers", facts=facts, warnings=warnings)
    if "config.json" in names:
        config = read_config(root / "config.json", "config.json")
        if is_model_config(config):
            facts, warnings = read_model(root, root, config)
            return _Found(format="huggingface-model", facts=facts, warnings=warnings)
    if MANIFEST_NAME in names:
        document = parse_json(read_text(root / MANIFEST_NAME, MANIFEST_NAME), MANIFEST_NAME)
        if is_index_manifest(document):
            manifest = parse_index_manifest(document, MANIFEST_NAME)
            return _Found(
                format="retrieval-index",
                facts=index_facts(manifest),
                upstream=index_hints(manifest, MANIFEST_NAME),
            )
    variables = find_variables_file(root)
    if variables is not None:
        facts, warnings = read_prompt(root, variables)
        return _Found(format="prompt-template", facts=facts, warnings=warnings)
    return _loose_files(root, names)


def _loose_files(root: Path, names: set[str]) -> _Found:
    templates = sorted(n for n in names if n.endswith((".jinja", ".j2")))
    warnings = [
        f"{name}: a template without prompt.json; declare its variables there to record it "
        "as a prompt-template"
        for name in templates
    ]
    weights = sorted(root / n for n in names if n.endswith(".safetensors"))
    if weights:
        report = read_files(root, weights)
        return _Found(facts=report.facts, warnings=warnings + report.warnings)
    return _Found(warnings=warnings + pickle_warnings(root, root))


def _results_files(root: Path) -> list[Path]:
    try:
        paths = sorted(root.rglob(RESULTS_PATTERN))
    except OSError as e:
        raise SourceError(f"cannot list folder {str(root)!r}: {e.strerror or e}") from None
    return [
        path
        for path in paths
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(root).parts)
    ]


def _lm_eval(root: Path, path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    where = relative(root, path)
    document = parse_json(read_text(path, where), where, allow_nan=True)
    if not is_lm_eval(document):
        warnings.append(f"{where}: not an lm-evaluation-harness results file; not read")
        return []
    return parse_lm_eval(document, where)


def _detect_file(path: Path) -> Detected:
    name = path.name
    root = path.parent
    if name in SPEC_NAMES:
        spec = read_provider_spec(path)
        return Detected(format="provider-model", facts=provider_facts(spec))
    if name == MANIFEST_NAME:
        document = parse_json(read_text(path, name), name)
        if is_index_manifest(document):
            manifest = parse_index_manifest(document, name)
            return Detected(
                format="retrieval-index",
                facts=index_facts(manifest),
                upstream=index_hints(manifest, name),
            )
    if name.endswith(".safetensors"):
        report = read_files(root, [path])
        return Detected(format="files", facts=report.facts, warnings=report.warnings)
    if path.match(RESULTS_PATTERN):
        warnings: list[str] = []
        return Detected(format="files", evals=_lm_eval(root, path, warnings), warnings=warnings)
    if name == "README.md":
        report_card = read_card(path, name)
        return Detected(
            format="files",
            card=report_card.card,
            evals=report_card.evals,
            upstream=unique_hints(report_card.upstream),
            warnings=report_card.warnings,
        )
    return Detected(format="files")
