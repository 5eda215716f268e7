"""Bad input through the real ``registry`` CLI: exit 2 (malformed) or 3 (not found), one
``error:`` line on stderr, never a traceback, and nothing written (the ledger keeps its
event count, or no database file appears)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "catalog.yaml"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"

Result = Any  # tests/conftest.py's Result: code, stdout, stderr, json()
RunCli = Callable[..., Result]
Artifacts = Callable[[str, dict[str, bytes]], Path]


def db_file(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite:///"))


def ok(result: Result) -> Result:
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def assert_clean_error(result: Result, code: int) -> str:
    """Exit ``code``, exactly one stderr line starting ``error: ``, no traceback anywhere."""
    assert result.code == code, (
        f"expected exit {code}, got {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {result.stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def ledger_events(run_cli: RunCli) -> int:
    data = ok(run_cli("audit", "verify", json=True)).json()
    assert data["ok"] is True
    return int(data["events"])


@pytest.fixture
def registry(run_cli: RunCli, artifacts: Artifacts) -> RunCli:
    """An initialised registry holding support-prompt@1 and support-evals@1."""
    ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL))
    ok(run_cli("register", "support-prompt", str(artifacts("prompt", {"p.txt": b"hello"}))))
    ok(run_cli("register", "support-evals", str(artifacts("evals", {"c.jsonl": b"{}\n"}))))
    return run_cli


def write_catalog(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BAD_CATALOGS = {
    "malformed-yaml": (
        "entries:\n  support-lora: {kind: lora_adapter, owner: [unclosed\n",
        "line",
    ),
    "threshold-not-op-number": (
        CATALOG.read_text(encoding="utf-8").replace('">= 0.80"', '"about 0.8"'),
        "about 0.8",
    ),
    "unknown-entry-key": (
        CATALOG.read_text(encoding="utf-8").replace(
            "license: mit}", "licence: mit}"
        ),  # bge-small's key misspelt
        "unknown key",
    ),
    "duplicate-key": (
        CATALOG.read_text(encoding="utf-8").replace(
            "  bge-small:",
            "  support-prompt: {kind: prompt_template, owner: x@example.com}\n  bge-small:",
        ),
        "given twice",
    ),
    "unknown-top-level-key": (
        CATALOG.read_text(encoding="utf-8") + "extras: {}\n",
        "unknown top-level key",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CATALOGS))
def test_bad_catalog_on_fresh_init_fails_cleanly_and_creates_no_database(
    run_cli: RunCli, db_url: str, tmp_path: Path, case: str
) -> None:
    text, expected = BAD_CATALOGS[case]
    assert text != CATALOG.read_text(encoding="utf-8")
    catalog = write_catalog(tmp_path / "catalog.yaml", text)
    line = assert_clean_error(run_cli("init", "--catalog", str(catalog), actor=CAROL), 2)
    assert expected in line
    assert not db_file(db_url).exists()


@pytest.mark.parametrize("case", sorted(BAD_CATALOGS))
def test_bad_catalog_on_existing_registry_writes_nothing(
    run_cli: RunCli, tmp_path: Path, case: str
) -> None:
    ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL))
    before = ledger_events(run_cli)
    text, expected = BAD_CATALOGS[case]
    catalog = write_catalog(tmp_path / "catalog-new.yaml", text)
    line = assert_clean_error(run_cli("init", "--catalog", str(catalog), actor=CAROL), 2)
    assert expected in line
    assert ledger_events(run_cli) == before


def test_missing_catalog_file_on_init_creates_no_database(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"
    line = assert_clean_error(run_cli("init", "--catalog", str(missing), actor=CAROL), 2)
    assert "does not exist" in line
    assert not db_file(db_url).exists()


@pytest.mark.parametrize("command", [("init", "--catalog"), ("register", "bge-small")])
def test_a_file_name_too_long_for_the_file_system_is_bad_input(
    registry: RunCli, tmp_path: Path, command: tuple[str, ...]
) -> None:
    before = ledger_events(registry)
    too_long = tmp_path / ("a" * 300)
    line = assert_clean_error(registry(*command, str(too_long), actor=CAROL), 2)
    assert "File name too long" in line
    assert "internal error" not in line
    assert ledger_events(registry) == before


def test_register_unknown_entry_is_not_found(registry: RunCli, artifacts: Artifacts) -> None:
    before = ledger_events(registry)
    source = artifacts("mystery", {"w.bin": b"x"})
    line = assert_clean_error(registry("register", "mystery-model", str(source)), 3)
    assert "unknown entry 'mystery-model'" in line
    assert ledger_events(registry) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("show", "support-lora@x"), "'x' is not a version number"),
        (("show", "support-lora@1@2"), "invalid reference"),
        (("show", "support-lora@0"), "versions start at 1"),
        (("lineage", "support-lora"), "invalid reference 'support-lora'"),
        (("lineage", "support-lora@production"), "invalid reference"),
        (("promote", "Foo@1", "--to", "staging", "--reason", "r"), "bad entry name"),
        (("promote", "support-prompt", "--to", "staging", "--reason", "r"), "invalid reference"),
        (("card", "support-prompt@v", "--set", "card.yaml"), "invalid reference"),
        (
            ("eval", "ingest", "support-prompt@1", "r.json", "--suite", "support-evals"),
            "invalid reference",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_malformed_entry_at_version_is_bad_input(
    registry: RunCli, args: tuple[str, ...], expected: str
) -> None:
    before = ledger_events(registry)
    line = assert_clean_error(registry(*args), 2)
    assert expected in line
    assert ledger_events(registry) == before


@pytest.mark.parametrize(
    "args",
    [
        ("show", "support-prompt@7"),
        ("lineage", "support-lora@1"),
        ("promote", "support-prompt@9", "--to", "staging", "--reason", "r"),
        ("show", "no-such-entry@1"),
    ],
    ids=" ".join,
)
def test_well_formed_reference_to_missing_version_is_not_found(
    registry: RunCli, args: tuple[str, ...]
) -> None:
    before = ledger_events(registry)
    assert_clean_error(registry(*args), 3)
    assert ledger_events(registry) == before


def test_register_missing_source_path_fails_cleanly(registry: RunCli, tmp_path: Path) -> None:
    before = ledger_events(registry)
    missing = tmp_path / "no-such-folder"
    line = assert_clean_error(registry("register", "bge-small", str(missing)), 2)
    assert "does not exist" in line
    assert ledger_events(registry) == before


def test_register_source_with_symlink_escaping_the_folder_is_refused(
    registry: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not part of the model")
    source = artifacts("bge-link", {"model.onnx": b"weights"})
    os.symlink(secret, source / "leak.txt")
    before = ledger_events(registry)
    line = assert_clean_error(registry("register", "bge-small", str(source)), 2)
    assert "symlink pointing outside" in line
    assert "leak.txt" in line
    assert ledger_events(registry) == before
    assert (
        ok(registry("list", "--kind", "embedding_model", json=True)).json()["entries"][0][
            "versions"
        ]
        == 0
    )


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("show", "support-lora@1"),
        ("audit", "verify"),
        ("resolve", "customer-support"),
        ("promote", "support-lora@1", "--to", "staging", "--reason", "r"),
    ],
    ids=" ".join,
)
def test_command_on_missing_database_is_not_found_and_creates_nothing(
    run_cli: RunCli, db_url: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    line = assert_clean_error(run_cli(*args), 3)
    assert "no registry database" in line
    assert not db_file(db_url).exists()
    assert not (tmp_path / ".registry").exists()


def test_register_on_missing_database_creates_nothing(
    run_cli: RunCli, artifacts: Artifacts, db_url: str
) -> None:
    source = artifacts("prompt", {"p.txt": b"hello"})
    assert_clean_error(run_cli("register", "support-prompt", str(source)), 3)
    assert not db_file(db_url).exists()


@pytest.mark.parametrize(
    "args",
    [
        ("approve", "999", "--reason", "fine"),
        ("reject", "999", "--reason", "no"),
        ("apply", "999"),
        ("gates", "999"),
    ],
    ids=" ".join,
)
def test_unknown_request_id_is_not_found(registry: RunCli, args: tuple[str, ...]) -> None:
    before = ledger_events(registry)
    line = assert_clean_error(registry(*args, actor=BOB), 3)
    assert "no promotion request 999" in line
    assert ledger_events(registry) == before


def test_non_integer_request_id_is_bad_input(registry: RunCli) -> None:
    before = ledger_events(registry)
    assert_clean_error(registry("apply", "seven"), 2)
    assert ledger_events(registry) == before


def test_promote_to_unknown_stage_is_bad_input(registry: RunCli) -> None:
    before = ledger_events(registry)
    result = registry("promote", "support-prompt@1", "--to", "prod", "--reason", "ship it")
    line = assert_clean_error(result, 2)
    assert "unknown stage 'prod'" in line
    assert "production" in line
    assert ledger_events(registry) == before


@pytest.mark.parametrize("stage", ["prod", "candidate"])
def test_history_and_rollback_with_bad_stage_are_bad_input(registry: RunCli, stage: str) -> None:
    before = ledger_events(registry)
    if stage == "prod":
        assert_clean_error(registry("history", "support-prompt", "--stage", stage), 2)
    result = registry("rollback", "support-prompt", "--stage", stage, "--reason", "r", actor=BOB)
    assert_clean_error(result, 2)
    assert ledger_events(registry) == before


@pytest.mark.parametrize("instant", ["not-a-date", "2026-13-45", "yesterday"])
def test_resolve_at_an_unparseable_instant_is_bad_input(registry: RunCli, instant: str) -> None:
    line = assert_clean_error(registry("resolve", "customer-support", "--at", instant), 2)
    assert "--at" in line


def test_resolve_unknown_workload_is_not_found(registry: RunCli) -> None:
    line = assert_clean_error(registry("resolve", "billing-bot"), 3)
    assert "unknown workload 'billing-bot'" in line


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (("promote", "x@1"), "--to"),
        (("promote", "support-prompt@1", "--to", "staging"), "--reason"),
        (("approve", "1"), "--reason"),
        (("eval", "ingest", "support-prompt@1", "r.json"), "--suite"),
        (("rollback", "support-bot", "--reason", "r"), "--stage"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else value,
)
def test_missing_required_option_is_one_line_usage_error(
    registry: RunCli, args: tuple[str, ...], missing: str
) -> None:
    before = ledger_events(registry)
    line = assert_clean_error(registry(*args), 2)
    assert f"Missing option '{missing}'" in line
    assert ledger_events(registry) == before


def test_unknown_command_is_one_line_usage_error(registry: RunCli) -> None:
    assert_clean_error(registry("promot", "x@1"), 2)


@pytest.mark.parametrize(
    "text",
    [
        '{"metrics": {"accuracy": "high"}}',
        '{"metrics": {"accuracy": true}}',
        '{"accuracy": "0.9"}',
        '{"metrics": {"accuracy": 0.9}, "extra": 1}',
        '{"metrics": {}}',
        "[0.9]",
        "{not json",
    ],
)
def test_eval_results_that_are_not_numeric_metrics_are_bad_input(
    registry: RunCli, tmp_path: Path, text: str
) -> None:
    results = tmp_path / "results.json"
    results.write_text(text, encoding="utf-8")
    before = ledger_events(registry)
    result = registry(
        "eval", "ingest", "support-prompt@1", str(results), "--suite", "support-evals@1"
    )
    assert_clean_error(result, 2)
    assert ledger_events(registry) == before


def test_eval_results_naming_the_metric_that_is_not_a_number(
    registry: RunCli, tmp_path: Path
) -> None:
    results = tmp_path / "results.json"
    results.write_text('{"metrics": {"accuracy": "high"}}', encoding="utf-8")
    result = registry(
        "eval", "ingest", "support-prompt@1", str(results), "--suite", "support-evals@1"
    )
    line = assert_clean_error(result, 2)
    assert "'accuracy'" in line
    assert "must be numbers" in line


def test_eval_results_file_that_does_not_exist_is_not_found(
    registry: RunCli, tmp_path: Path
) -> None:
    before = ledger_events(registry)
    result = registry(
        "eval",
        "ingest",
        "support-prompt@1",
        str(tmp_path / "missing.json"),
        "--suite",
        "support-evals@1",
    )
    assert "does not exist" in assert_clean_error(result, 3)
    assert ledger_events(registry) == before


@pytest.mark.parametrize(
    "text",
    [
        "- intended_use\n- limitations\n",
        "just a sentence\n",
        "42\n",
        "",
        "{}\n",
        "Intended Use: capital letters\n",
        "intended_use: {nested: mapping}\n",
        "intended_use: [unclosed\n",
    ],
    ids=["list", "string", "number", "empty", "empty-mapping", "bad-field", "nested", "yaml"],
)
def test_card_file_that_is_not_a_mapping_of_text_is_bad_input(
    registry: RunCli, tmp_path: Path, text: str
) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(text, encoding="utf-8")
    before = ledger_events(registry)
    assert_clean_error(registry("card", "support-prompt@1", "--set", str(card)), 2)
    assert ledger_events(registry) == before


def test_register_config_that_is_not_a_mapping_is_bad_input(
    registry: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("- rank: 16\n", encoding="utf-8")
    before = ledger_events(registry)
    source = artifacts("bge", {"model.onnx": b"w"})
    result = registry("register", "bge-small", str(source), "--config", str(config))
    assert "config file" in assert_clean_error(result, 2)
    assert ledger_events(registry) == before


@pytest.mark.parametrize(
    ("pins", "expected"),
    [
        (["support-prompt@1"], "pin the exact version of"),
        (["support-prompt@1", "support-prompt@1"], "pinned twice"),
        (["llama-3-8b-instruct@1"], "not in its catalog components"),
    ],
)
def test_stack_with_wrong_pins_is_bad_input(
    registry: RunCli, pins: list[str], expected: str
) -> None:
    before = ledger_events(registry)
    args = [a for p in pins for a in ("--pin", p)]
    assert expected in assert_clean_error(registry("register", "support-bot", *args), 2)
    assert ledger_events(registry) == before


def test_json_mode_error_is_still_one_stderr_line_and_json_on_stdout(registry: RunCli) -> None:
    result = registry("show", "support-lora@x", json=True)
    assert_clean_error(result, 2)
    assert result.json()["error"] == "BadInput"


@pytest.mark.parametrize(
    "args",
    [
        ("approve", "99999999999999999999", "--reason", "fine"),
        ("reject", "99999999999999999999", "--reason", "no"),
        ("apply", "99999999999999999999"),
        ("gates", "9223372036854775808"),
    ],
    ids=lambda value: value[0],
)
def test_request_id_beyond_the_integer_range_is_not_an_internal_error(
    registry: RunCli, args: tuple[str, ...]
) -> None:
    # Such a request cannot exist: expect not found (3) or bad input (2), never exit 1.
    before = ledger_events(registry)
    result = registry(*args, actor=BOB)
    assert result.code in (2, 3), f"exit {result.code}: {result.stderr}"
    assert_clean_error(result, result.code)
    assert ledger_events(registry) == before


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"],
    ids=["before-year-1-in-utc", "after-year-9999-in-utc"],
)
def test_resolve_at_an_instant_outside_the_calendar_in_utc_is_bad_input(
    registry: RunCli, instant: str
) -> None:
    line = assert_clean_error(registry("resolve", "customer-support", "--at", instant), 2)
    assert "--at" in line


def test_eval_produced_at_outside_the_calendar_in_utc_is_bad_input(
    registry: RunCli, tmp_path: Path
) -> None:
    results = tmp_path / "results.yaml"
    results.write_text(
        'metrics: {accuracy: 0.9}\nproduced_at: "0001-01-01T00:00:00+05:00"\n', encoding="utf-8"
    )
    before = ledger_events(registry)
    result = registry(
        "eval", "ingest", "support-prompt@1", str(results), "--suite", "support-evals@1"
    )
    assert "produced_at" in assert_clean_error(result, 2)
    assert ledger_events(registry) == before
