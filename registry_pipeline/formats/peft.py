"""PEFT adapters: ``adapter_config.json`` and ``adapter_model.safetensors``.

``adapter_config.json`` is what ``peft`` saves with ``save_pretrained``: ``peft_type``
(``"LORA"`` for LoRA), ``task_type``, ``base_model_name_or_path`` (the model the adapter
applies to; required here, since an adapter without its base cannot be governed),
``revision``, and for LoRA ``r``, ``lora_alpha``, ``lora_dropout`` and
``target_modules`` (a list of module names, or one regular expression as a string).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import (
    hint,
    json_object,
    optional_int,
    optional_number,
    optional_str,
    read_json,
    relative,
)
from registry_pipeline.formats.huggingface import pickle_warnings
from registry_pipeline.formats.safetensors_files import read_weights
from registry_pipeline.inputs.documents import shown

CONFIG_NAME = "adapter_config.json"
WEIGHTS_STEM = "adapter_model"


@dataclass(frozen=True, slots=True, kw_only=True)
class Adapter:
    """A read PEFT adapter."""

    is_lora: bool
    facts: dict[str, Any]
    upstream: list[dict[str, Any]]
    warnings: list[str]


def adapter_facts(config: dict[str, Any], where: str) -> dict[str, Any]:
    """Facts of an adapter config: peft_type, task_type, base_model_name_or_path,
    base_model_revision (when set), and for LoRA r, lora_alpha, lora_dropout and
    target_modules.

    Raises:
        BadInput: ``peft_type`` or ``base_model_name_or_path`` is missing, or a recorded key
            has the wrong type; the message names the file and the key.
    """
    peft_type = optional_str(config, "peft_type", where)
    if not peft_type:
        raise BadInput(f"{where}: 'peft_type' is missing; PEFT writes it (e.g. \"LORA\")")
    base = optional_str(config, "base_model_name_or_path", where)
    if not base or not base.strip():
        raise BadInput(
            f"{where}: 'base_model_name_or_path' is missing; set it to the base model the "
            "adapter was trained on"
        )
    facts: dict[str, Any] = {
        "peft_type": peft_type,
        "task_type": optional_str(config, "task_type", where),
        "base_model_name_or_path": base,
    }
    revision = optional_str(config, "revision", where)
    if revision:
        facts["base_model_revision"] = revision
    if peft_type.upper() == "LORA":
        facts["r"] = optional_int(config, "r", where, minimum=1)
        facts["lora_alpha"] = optional_number(config, "lora_alpha", where)
        dropout = optional_number(config, "lora_dropout", where)
        if dropout is not None and not 0 <= dropout <= 1:
            raise BadInput(f"{where}: 'lora_dropout' must be between 0 and 1, not {dropout}")
        facts["lora_dropout"] = dropout
        facts["target_modules"] = _target_modules(config, where)
    return facts


def _target_modules(config: dict[str, Any], where: str) -> list[str] | str | None:
    value = config.get("target_modules")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadInput(
        f"{where}: 'target_modules' must be a list of module names or one regular "
        f"expression, not {shown(value)}"
    )


def read_adapter(root: Path, folder: Path) -> Adapter:
    """Read the adapter in ``folder``: config facts, weights' header facts, and the base
    model as an upstream hint.

    Raises:
        BadInput: the config or the weights are malformed.
    """
    path = folder / CONFIG_NAME
    where = relative(root, path)
    config = json_object(read_json(path, where), where)
    facts = adapter_facts(config, where)
    warnings: list[str] = []
    is_lora = facts["peft_type"].upper() == "LORA"
    if not is_lora:
        warnings.append(
            f"{where}: peft_type {facts['peft_type']!r} is not LoRA; recorded as plain files"
        )
    weights = read_weights(root, folder, WEIGHTS_STEM)
    if weights is None:
        warnings += pickle_warnings(root, folder) or [
            f"{where}: no {WEIGHTS_STEM}.safetensors beside it; no weight facts recorded"
        ]
    else:
        facts.update(weights.facts)
        warnings += weights.warnings
    upstream = [
        hint(facts["base_model_name_or_path"], "base_model", f"{where}:base_model_name_or_path")
    ]
    return Adapter(is_lora=is_lora, facts=facts, upstream=upstream, warnings=warnings)
