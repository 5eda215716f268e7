"""Registering what ML tools produce: formats read and recorded, lineage from the artifact
itself, hosted models identified by their spec, malformed files refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES

from registry_pipeline.errors import BadInput
from registry_pipeline.formats.provider import provider_spec_digest, read_provider_spec
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

sys.path.insert(0, str(EXAMPLES.parent))
from generate import generate  # noqa: E402


@pytest.fixture
def outputs(tmp_path: Path) -> dict[str, Path]:
    waves = generate(tmp_path / "outputs")
    return {folder.parent.name: folder for wave in waves for folder in wave}


@pytest.fixture
def registry(db_url: str) -> Registry:
    Registry.init(db_url, catalog=EXAMPLES, actor="carol@example.com")
    return Registry.open(db_url, actor="support-ml@example.com")


def _register(registry: Registry, outputs: dict[str, Path], entry: str, **kw: Any) -> Any:
    """Register an example output as its entry's owner."""
    owner = Registry.open(registry.store.url, actor=registry.catalog().entry(entry).owner)
    return owner.register(
        entry, outputs[entry], exclude=["registry.yaml", "eval_results.json"], **kw
    )


def test_a_hugging_face_model_records_its_architecture_and_parameters(
    registry: Registry, outputs: dict[str, Path]
) -> None:
    result = _register(registry, outputs, "llama-3.2-1b-instruct")
    assert result.format == "huggingface-model"
    facts = registry.show("llama-3.2-1b-instruct@1").to_dict()["format"]
    assert facts["format"] == "huggingface-model"
    assert facts["facts"]["architectures"] == ["LlamaForCausalLM"]
    assert facts["facts"]["parameter_count"] == 256 * 64 + 2 * 4 * 64 * 64
    assert facts["card"]["license"] == "llama3.2"


def test_an_adapter_takes_its_base_model_lineage_from_adapter_config(
    registry: Registry, outputs: dict[str, Path]
) -> None:
    _register(registry, outputs, "llama-3.2-1b-instruct")
    _register(registry, outputs, "support-tickets-2026q3")
    result = _register(registry, outputs, "support-lora", upstream=["support-tickets-2026q3@1"])
    assert result.format == "peft-lora"
    assert result.upstream == ["llama-3.2-1b-instruct@1", "support-tickets-2026q3@1"]
    shown = registry.show("support-lora@1").to_dict()
    assert {(u["entry"], u["version"]) for u in shown["lineage"]} == {
        ("llama-3.2-1b-instruct", 1),
        ("support-tickets-2026q3", 1),
    }
    resolved = shown["format"]["resolved_upstream"]
    assert resolved[0]["from"] == "adapter_config.json:base_model_name_or_path"
    assert resolved[0]["pinned"] == "llama-3.2-1b-instruct@1"


def test_an_unmatched_base_model_is_reported_not_guessed(
    registry: Registry, outputs: dict[str, Path]
) -> None:
    adapter = outputs["support-lora"]
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "someone/other-model"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    _register(registry, outputs, "support-tickets-2026q3")
    with pytest.raises(BadInput, match=r"pin the exact version of llama-3\.2-1b-instruct"):
        _register(registry, outputs, "support-lora", upstream=["support-tickets-2026q3@1"])
    _register(registry, outputs, "llama-3.2-1b-instruct")
    result = _register(
        registry,
        outputs,
        "support-lora",
        upstream=["support-tickets-2026q3@1", "llama-3.2-1b-instruct@1"],
    )
    assert any("someone/other-model" in w for w in result.warnings)


def test_a_malformed_known_file_is_refused_with_its_name(
    registry: Registry, outputs: dict[str, Path], run_cli: Any, db_url: str
) -> None:
    (outputs["llama-3.2-1b-instruct"] / "config.json").write_text("{not json")
    result = run_cli("register", "llama-3.2-1b-instruct", str(outputs["llama-3.2-1b-instruct"]))
    assert result.code == 2
    assert "config.json" in result.stderr
    assert result.stderr.count("\n") == 1
    assert registry.latest_versions(["llama-3.2-1b-instruct"]) == {"llama-3.2-1b-instruct": None}


def test_a_provider_model_is_identified_by_its_pinned_spec(db_url: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {"entries": {"gpt-hosted": {"kind": "provider_model", "owner": "ml@example.com"}}}
        )
    )
    registry, _ = Registry.init(db_url, catalog=catalog, actor="ml@example.com")
    spec = {
        "provider": "openai",
        "model_id": "gpt-4o-mini",
        "snapshot": "2024-07-18",
        "endpoint": "https://api.openai.com/v1",
    }
    first = tmp_path / "a"
    first.mkdir()
    (first / "provider.yaml").write_text(yaml.safe_dump(spec))
    result = registry.register("gpt-hosted", first)
    assert result.format == "provider-model"
    assert result.digest == provider_spec_digest(read_provider_spec(first / "provider.yaml"))
    moved = tmp_path / "b"
    moved.mkdir()
    (moved / "provider.yaml").write_text(yaml.safe_dump(spec, default_flow_style=True))
    assert registry.register("gpt-hosted", moved).version == result.version
    (moved / "provider.yaml").write_text(yaml.safe_dump({**spec, "snapshot": "2025-01-01"}))
    assert registry.register("gpt-hosted", moved).version == 2
