"""Helpers shared by the format tests: the checked-in samples and real-library writers."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from registry_pipeline.errors import BadInput

SAMPLES = Path(__file__).parents[2] / "fixtures" / "formats"
EXAMPLES = Path(__file__).parents[3] / "examples" / "generate.py"


def write_weights(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write real safetensors weights (as ``safetensors.numpy`` does for ``save_pretrained``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def write_json(path: Path, document: Any) -> Path:
    """Write a JSON document, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def sample(name: str, tmp_path: Path) -> Path:
    """A private copy of a checked-in sample (file or folder) under ``tmp_path``."""
    source = SAMPLES / name
    target = tmp_path / "sample" / name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return target


def bad_input(call: Callable[[], object], *fragments: str) -> str:
    """Run ``call``, expect exactly a BadInput with a one-line message holding ``fragments``."""
    with pytest.raises(BadInput) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    assert "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def load_examples() -> ModuleType:
    """The example estate's generator, imported from its file."""
    spec = importlib.util.spec_from_file_location("examples_generate", EXAMPLES)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
