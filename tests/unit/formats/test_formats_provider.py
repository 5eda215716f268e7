"""Provider-hosted model specs: validation, canonical digest, detection."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from formats_helpers import SAMPLES, bad_input, sample

from registry_pipeline.formats import detect, provider_spec_digest, read_provider_spec

pytestmark = pytest.mark.unit

SPEC = {
    "provider": "openai",
    "model_id": "gpt-4o",
    "snapshot": "gpt-4o-2024-08-06",
    "endpoint": "https://api.openai.com/v1",
    "deprecation_date": "2026-06-30",
}


def _expected_digest(document: Mapping[str, object]) -> str:
    body = {"format": "registry-pipeline/provider-model/v1", "document": document}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_spec_facts_and_digest(tmp_path: Path) -> None:
    found = detect(sample("provider", tmp_path))
    assert found.format == "provider-model"
    assert found.facts == {**SPEC, "digest": _expected_digest(SPEC)}
    assert (found.card, found.evals, found.upstream, found.warnings) == ({}, [], [], [])
    single = detect(SAMPLES / "provider" / "provider.yaml")
    assert single.facts == found.facts


def test_digest_ignores_layout_and_key_order(tmp_path: Path) -> None:
    path = tmp_path / "provider.yml"
    path.write_text(
        "deprecation_date: '2026-06-30'\nendpoint: 'https://api.openai.com/v1'\n"
        "snapshot: gpt-4o-2024-08-06\nmodel_id: gpt-4o\nprovider: openai\n",
        encoding="utf-8",
    )
    spec = read_provider_spec(path)
    assert provider_spec_digest(spec) == _expected_digest(SPEC)
    assert provider_spec_digest(spec) == detect(SAMPLES / "provider").facts["digest"]


def test_dates_and_numbers_yaml_reads_as_other_types(tmp_path: Path) -> None:
    path = tmp_path / "provider.yaml"
    path.write_text(
        "provider: anthropic\nmodel_id: claude-3-5-sonnet\nsnapshot: 20241022\n"
        "endpoint: https://api.anthropic.com/v1/messages\n",
        encoding="utf-8",
    )
    spec = read_provider_spec(path)
    assert spec.snapshot == "20241022"
    assert spec.deprecation_date is None
    path.write_text(path.read_text(encoding="utf-8").replace("20241022", "2024-10-22"))
    assert read_provider_spec(path).snapshot == "2024-10-22"
    assert detect(tmp_path).facts["deprecation_date"] is None


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"endpoint": "http://api.openai.com/v1"}, "endpoint: 'http://api.openai.com/v1' must be"),
        ({"endpoint": "https://user:secret@api.example.com"}, "must not carry credentials"),
        ({"endpoint": "https://"}, "is not a valid https URL"),
        ({"endpoint": "https://api.example.com:99999/"}, "is not a URL"),
        ({"deprecation_date": "30/06/2026"}, "deprecation_date: '30/06/2026' is not an ISO date"),
        ({"deprecation_date": "2026-06-30T00:00:00"}, "is not an ISO date"),
        ({"provider": "Open AI"}, "is not a provider name"),
        ({"model_id": "gpt 4o"}, "must be one token"),
        ({"region": "eu"}, "unknown key 'region'; the keys are: provider, model_id"),
        ({"snapshot": None}, "'snapshot' is missing"),
        ({"model_id": 4}, "model_id: Input should be a valid string (found 4)"),
    ],
)
def test_invalid_spec(tmp_path: Path, change: dict[str, object], fragment: str) -> None:
    document = {**SPEC, **change}
    document = {k: v for k, v in document.items() if v is not None}
    path = tmp_path / "provider.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")
    bad_input(lambda: detect(tmp_path), "provider.yaml", fragment)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("provider: openai\nprovider: azure\n", "key 'provider' is given twice"),
        ("provider: [openai\n", "provider.yaml: line"),
        ("- openai\n", "expected a mapping (object) of keys to values"),
        ("", "expected a mapping (object) of keys to values"),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "provider.yaml").write_text(text, encoding="utf-8")
    bad_input(lambda: detect(tmp_path), "provider.yaml", fragment)
