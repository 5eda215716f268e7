"""sentence-transformers models: ``modules.json`` and the modules' own configs.

``modules.json`` is a list of ``{"idx", "name", "path", "type"}``, in pipeline order, e.g.
``sentence_transformers.models.Transformer`` at path ``""`` (the folder itself), then
``sentence_transformers.models.Pooling`` at ``1_Pooling``. Read here:

- the Transformer module's ``config.json`` and weights (as a Hugging Face model) and its
  ``sentence_bert_config.json`` (``max_seq_length``);
- the Pooling module's ``config.json``: ``word_embedding_dimension`` and the
  ``pooling_mode_*`` flags. A flag left out takes sentence-transformers' default, which
  is true for ``pooling_mode_mean_tokens`` and false for the others; a ``pooling_mode``
  string, when given, replaces the flags;
- a Dense module's ``config.json`` (``out_features``) and a Normalize module;
- ``config_sentence_transformers.json``: ``similarity_fn_name`` and the library version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_pipeline.core.digests import check_relative_path
from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import (
    json_object,
    optional_int,
    optional_str,
    read_json,
    relative,
)
from registry_pipeline.formats.huggingface import config_facts
from registry_pipeline.formats.safetensors_files import read_weights
from registry_pipeline.inputs.documents import shown

MODULES_NAME = "modules.json"
TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
DENSE = "sentence_transformers.models.Dense"
NORMALIZE = "sentence_transformers.models.Normalize"
#: (config key, mode name, default) in the order sentence-transformers concatenates them.
POOLING_FLAGS = (
    ("pooling_mode_cls_token", "cls", False),
    ("pooling_mode_max_tokens", "max", False),
    ("pooling_mode_mean_tokens", "mean", True),
    ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens", False),
    ("pooling_mode_weightedmean_tokens", "weightedmean", False),
    ("pooling_mode_lasttoken", "lasttoken", False),
)
POOLING_MODES = tuple(mode for _, mode, _ in POOLING_FLAGS)


def read_modules(root: Path) -> list[dict[str, Any]]:
    """Read and check ``modules.json``: a non-empty list of modules with clean paths.

    Raises:
        BadInput: the file is not such a list; the message names the bad module.
    """
    where = MODULES_NAME
    document = read_json(root / MODULES_NAME, where)
    if not isinstance(document, list) or not document:
        raise BadInput(f"{where}: expected a non-empty JSON list of modules")
    modules: list[dict[str, Any]] = []
    for number, item in enumerate(document):
        spot = f"{where} module {number}"
        module = json_object(item, spot)
        idx = optional_int(module, "idx", spot)
        name = optional_str(module, "name", spot)
        path = optional_str(module, "path", spot)
        kind = optional_str(module, "type", spot)
        if idx is None or name is None or path is None or not kind:
            raise BadInput(f"{spot}: each module needs 'idx', 'name', 'path' and 'type'")
        if path:
            try:
                check_relative_path(path)
            except BadInput:
                raise BadInput(f"{spot}: path {path!r} is not a folder inside the model") from None
        modules.append({"idx": idx, "name": name, "path": path, "type": kind})
    return modules


def read_sentence_transformer(root: Path) -> tuple[dict[str, Any], list[str]]:
    """Facts of a sentence-transformers folder: ``modules``, ``pooling_modes``,
    ``embedding_dimension`` (the Pooling module's word_embedding_dimension),
    ``output_dimension`` (what the model emits: pooled size, or the last Dense's
    out_features), ``normalize``, plus ``max_seq_length``, ``similarity_fn_name`` and
    ``sentence_transformers_version`` when present, and the Transformer module's config
    and weights facts.

    Raises:
        BadInput: a file is malformed or a listed module's config is missing.
    """
    modules = read_modules(root)
    facts: dict[str, Any] = {"modules": modules}
    warnings: list[str] = []
    output: int | None = None
    for module in modules:
        folder = root / module["path"] if module["path"] else root
        kind = module["type"]
        if kind == TRANSFORMER:
            _transformer(root, folder, facts, warnings)
        elif kind == POOLING:
            modes, dimension = _pooling(root, folder, warnings)
            facts["pooling_modes"] = modes
            facts["embedding_dimension"] = dimension
            output = dimension * len(modes)
        elif kind == DENSE:
            output = _dense(root, folder)
        elif kind == NORMALIZE:
            facts["normalize"] = True
    facts.setdefault("normalize", False)
    if output is not None:
        facts["output_dimension"] = output
    _library_config(root, facts)
    hidden, width = facts.get("hidden_size"), facts.get("embedding_dimension")
    if hidden is not None and width is not None and hidden != width:
        warnings.append(
            f"pooling word_embedding_dimension {width} differs from the transformer's "
            f"hidden_size {hidden}"
        )
    if "pooling_modes" not in facts:
        warnings.append(f"{MODULES_NAME}: no {POOLING} module; no embedding dimension recorded")
    return facts, warnings


def _module_config(root: Path, folder: Path, kind: str) -> tuple[dict[str, Any], str]:
    path = folder / "config.json"
    where = relative(root, path)
    if not path.is_file():
        raise BadInput(f"{MODULES_NAME}: lists a {kind} module whose {where} is missing")
    return json_object(read_json(path, where), where), where


def _transformer(root: Path, folder: Path, facts: dict[str, Any], warnings: list[str]) -> None:
    config_path = folder / "config.json"
    if config_path.is_file():
        where = relative(root, config_path)
        facts.update(config_facts(json_object(read_json(config_path, where), where), where))
    bert = folder / "sentence_bert_config.json"
    if bert.is_file():
        where = relative(root, bert)
        document = json_object(read_json(bert, where), where)
        length = optional_int(document, "max_seq_length", where, minimum=1)
        if length is not None:
            facts["max_seq_length"] = length
    weights = read_weights(root, folder, "model")
    if weights is None:
        warnings.append(
            f"{relative(root, folder / 'model.safetensors')} is missing; no weight facts recorded"
        )
    else:
        facts.update(weights.facts)
        warnings += weights.warnings


def _pooling(root: Path, folder: Path, warnings: list[str]) -> tuple[list[str], int]:
    config, where = _module_config(root, folder, "Pooling")
    dimension = optional_int(config, "word_embedding_dimension", where, minimum=1)
    if dimension is None:
        raise BadInput(f"{where}: 'word_embedding_dimension' is missing")
    mode = optional_str(config, "pooling_mode", where)
    if mode is not None:
        if mode.lower() not in POOLING_MODES:
            raise BadInput(
                f"{where}: pooling_mode {mode!r} is not one of {', '.join(POOLING_MODES)}"
            )
        return [mode.lower()], dimension
    modes: list[str] = []
    for key, name, default in POOLING_FLAGS:
        value = config.get(key, default)
        if not isinstance(value, bool):
            raise BadInput(f"{where}: {key!r} must be true or false, not {shown(value)}")
        if key not in config and default and any(k in config for k, _, _ in POOLING_FLAGS):
            warnings.append(
                f"{where}: {key} is not set and sentence-transformers defaults it to true; "
                "write every pooling_mode_* flag"
            )
        if value:
            modes.append(name)
    if not modes:
        raise BadInput(f"{where}: no pooling mode is true; set one pooling_mode_* flag")
    return modes, dimension


def _dense(root: Path, folder: Path) -> int:
    config, where = _module_config(root, folder, "Dense")
    out = optional_int(config, "out_features", where, minimum=1)
    if out is None:
        raise BadInput(f"{where}: 'out_features' is missing")
    return out


def _library_config(root: Path, facts: dict[str, Any]) -> None:
    path = root / "config_sentence_transformers.json"
    if not path.is_file():
        return
    where = relative(root, path)
    document = json_object(read_json(path, where), where)
    similarity = optional_str(document, "similarity_fn_name", where)
    if similarity is not None:
        facts["similarity_fn_name"] = similarity
    versions = document.get("__version__")
    if isinstance(versions, dict) and isinstance(versions.get("sentence_transformers"), str):
        facts["sentence_transformers_version"] = versions["sentence_transformers"]
