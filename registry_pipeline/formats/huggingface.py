"""Hugging Face model folders: ``config.json``, safetensors weights and the README model card.

A folder is a Hugging Face model when its ``config.json`` is a JSON object with
``model_type`` or ``architectures``. The README's YAML front matter is read with
``huggingface_hub.ModelCard`` from the text (never from the network); its ``model-index``
results become eval results with source ``"model-index"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard

from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import (
    is_number,
    json_object,
    json_safe,
    metric_name,
    optional_int,
    optional_str,
    optional_str_list,
    read_json,
    read_text,
    relative,
)
from registry_pipeline.formats.safetensors_files import read_weights
from registry_pipeline.inputs.documents import one_line, parse_yaml, shown

#: Integer sizes recorded from config.json when present (or from its ``text_config``).
SIZE_KEYS = ("hidden_size", "num_hidden_layers", "vocab_size")
#: Same pattern huggingface_hub uses to find the front matter.
_FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardReport:
    """What a README model card says: its data, eval results and upstream hints."""

    card: dict[str, Any] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_config(path: Path, where: str) -> dict[str, Any]:
    """Read ``config.json`` as a JSON object.

    Raises:
        BadInput: the file is not JSON or not an object.
    """
    return json_object(read_json(path, where), where)


def is_model_config(config: dict[str, Any]) -> bool:
    """True when a config names a model type or architectures (a transformers config)."""
    return "model_type" in config or "architectures" in config


def config_facts(config: dict[str, Any], where: str) -> dict[str, Any]:
    """Facts of a transformers ``config.json``: architectures, model_type, torch_dtype and
    the sizes in :data:`SIZE_KEYS` when present.

    Raises:
        BadInput: a recorded key has the wrong type; the message names it.
    """
    facts: dict[str, Any] = {}
    architectures = optional_str_list(config, "architectures", where)
    if architectures is not None:
        facts["architectures"] = architectures
    model_type = optional_str(config, "model_type", where)
    if model_type is not None:
        facts["model_type"] = model_type
    # transformers >= 4.56 writes "dtype" where older releases wrote "torch_dtype".
    dtype_key = "torch_dtype" if config.get("torch_dtype") is not None else "dtype"
    dtype = optional_str(config, dtype_key, where)
    if dtype is not None:
        facts["torch_dtype"] = dtype
    nested = config.get("text_config")
    for key in SIZE_KEYS:
        value = optional_int(config, key, where, minimum=1)
        if value is None and isinstance(nested, dict):
            value = optional_int(nested, key, f"{where} text_config", minimum=1)
        if value is not None:
            facts[key] = value
    return facts


def read_model(
    root: Path, folder: Path, config: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Facts of a model folder: its config facts plus its weights' header facts.

    Raises:
        BadInput: the config or the weights are malformed.
    """
    facts = config_facts(config, relative(root, folder / "config.json"))
    warnings: list[str] = []
    weights = read_weights(root, folder, "model")
    if weights is None:
        warnings += pickle_warnings(root, folder) or [
            f"{relative(root, folder / 'config.json')}: no model.safetensors or "
            "model.safetensors.index.json beside it; no weight facts recorded"
        ]
    else:
        facts.update(weights.facts)
        warnings += weights.warnings
    return facts, warnings


def pickle_warnings(root: Path, folder: Path) -> list[str]:
    """Warnings for pickled weights, which are never unpickled to be read."""
    return [
        f"{relative(root, folder / name)} is a pickle and is not read; convert the weights "
        "to safetensors to record their facts"
        for name in PICKLE_WEIGHTS
        if (folder / name).is_file()
    ]


def read_card(path: Path, where: str) -> CardReport:
    """Read a README model card: its front-matter data (without ``model-index``), the
    ``model-index`` results as evals, and base_model / datasets as upstream hints.

    A README without front matter is not a model card: the report is empty.

    Raises:
        BadInput: the front matter is not YAML, not a mapping, or its model-index is
            malformed; the message names the file.
    """
    card_data_object, _ = split_card(read_text(path, where), where)
    if card_data_object is None:
        return CardReport()
    try:
        data: dict[str, Any] = card_data_object.to_dict()
        results = list(card_data_object.eval_results or [])
        model_name = card_data_object.model_name
        data.pop("model-index", None)
        card_data = json_safe(data)
    except RecursionError:
        raise BadInput(f"{where}: the front matter is nested too deeply to read") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        raise BadInput(
            f"{where}: the model card metadata cannot be read ({one_line(e, 120)}); "
            "fix the front matter (see the model-index spec of huggingface_hub)"
        ) from None
    warnings: list[str] = []
    evals = _model_index_evals(results, model_name, where, warnings)
    upstream = _card_hints(card_data, where, warnings)
    return CardReport(card=card_data, evals=evals, upstream=upstream, warnings=warnings)


def split_card(text: str, where: str) -> tuple[Any, str]:
    """Split a README model card into its front matter, read by ``huggingface_hub``'s
    ``ModelCard`` (a ``ModelCardData``; ``None`` without front matter), and its Markdown
    body.

    Raises:
        BadInput: the front matter is not YAML, not a mapping, repeats a key, or is not
            valid card metadata (a malformed ``model-index``); the message names the file.
    """
    match = _FRONT_MATTER.search(text)
    if match is None:
        return None, text
    # Strict parse first: huggingface_hub's yaml.safe_load keeps the last of repeated keys.
    front = parse_yaml(match.group(2), where=f"{where} front matter")
    if front is None:
        return None, text[match.end() :]
    if not isinstance(front, dict):
        raise BadInput(f"{where}: the front matter must be a YAML mapping of keys to values")
    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except RecursionError:
        raise BadInput(f"{where}: the front matter is nested too deeply to read") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        raise BadInput(
            f"{where}: the model card metadata cannot be read ({one_line(e, 120)}); "
            "fix the front matter (see the model-index spec of huggingface_hub)"
        ) from None
    # ModelCardData is untyped: read it as Any.
    data: Any = card.data
    return data, str(card.text)


def _names(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    return None


def _card_hints(card: dict[str, Any], where: str, warnings: list[str]) -> list[dict[str, Any]]:
    hints: list[dict[str, Any]] = []
    for key, relation in (("base_model", "base_model"), ("datasets", "dataset")):
        if card.get(key) is None:
            continue
        names = _names(card[key])
        if names is None:
            warnings.append(f"{where}: {key} is {shown(card[key])}, not a name or list of names")
            continue
        hints += [{"name": n, "relation": relation, "from": f"{where}:{key}"} for n in names]
    return hints


def _model_index_evals(
    results: list[Any], model_name: str | None, where: str, warnings: list[str]
) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for result in results:
        key = (
            result.task_type,
            result.dataset_type,
            result.dataset_config,
            result.dataset_split,
            result.dataset_revision,
        )
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "source": "model-index",
                "task": str(result.task_type),
                "dataset": str(result.dataset_type),
                "metrics": {},
                "produced_at": None,
                "details": json_safe(
                    {
                        "file": where,
                        "model_name": model_name,
                        "task_name": result.task_name,
                        "dataset_name": result.dataset_name,
                        "dataset_config": result.dataset_config,
                        "dataset_split": result.dataset_split,
                        "dataset_revision": result.dataset_revision,
                        "source_name": result.source_name,
                        "source_url": result.source_url,
                    }
                ),
            }
        name = metric_name(str(result.metric_type), f"{where} model-index")
        value = result.metric_value
        if not is_number(value):
            warnings.append(
                f"{where}: model-index metric {name!r} on {result.dataset_type} is "
                f"{shown(value)}, not a number; skipped"
            )
        elif name in group["metrics"]:
            warnings.append(
                f"{where}: model-index repeats metric {name!r} on {result.dataset_type}; "
                "the first value is kept"
            )
        else:
            group["metrics"][name] = float(value)
    return [g for g in groups.values() if g["metrics"]]
