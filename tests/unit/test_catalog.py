"""The YAML catalog loader (registry_pipeline/catalog.py): merging and one-line errors."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from registry_pipeline.catalog import catalog_digest, catalog_from_document, load_catalog
from registry_pipeline.core.catalog import DeploymentTarget, StageRule
from registry_pipeline.core.evals import Threshold
from registry_pipeline.core.kinds import EntryKind
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput, CatalogError, NotFound

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "catalog.yaml"

ENTRIES = """\
entries:
  base: {kind: base_model, owner: ml@example.com, license: mit}
  tuned: {kind: fine_tune, owner: ml@example.com, license: mit, upstream: [base]}
  prompt: {kind: prompt_template, owner: ml@example.com}
  evals: {kind: eval_suite, owner: ml@example.com, evaluates: [tuned]}
  bot: {kind: stack, owner: ml@example.com, components: [tuned, prompt]}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> CatalogError:
    """Load ``path`` expecting a CatalogError; check the error contract and return it."""
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    error = info.value
    assert isinstance(error, BadInput)
    assert "\n" not in str(error)
    return error


# --- the fixture and merging --------------------------------------------------------------


def test_fixture_catalog_loads() -> None:
    catalog, document = load_catalog(FIXTURE)
    assert set(catalog.entries) == {
        "llama-3-8b-instruct",
        "support-tickets-2026q3",
        "support-lora",
        "support-prompt",
        "bge-small",
        "kb-index",
        "support-evals",
        "support-bot",
    }
    lora = catalog.entry("support-lora")
    assert lora.kind is EntryKind.LORA_ADAPTER
    assert lora.license == "llama3"
    assert lora.risk_class == "high"
    assert lora.upstream == ("llama-3-8b-instruct", "support-tickets-2026q3")
    assert catalog.entry("support-bot").components == (
        "support-lora",
        "support-prompt",
        "bge-small",
        "kb-index",
        "support-evals",
    )
    assert catalog.suites_covering("support-lora") == ("support-evals",)
    assert set(document) == {"entries", "workloads", "policy"}


def test_fixture_workloads_and_policy_load() -> None:
    catalog, _ = load_catalog(FIXTURE)
    workload = catalog.workload("customer-support")
    assert workload.stack == "support-bot"
    assert workload.targets == (
        DeploymentTarget(name="prod-eu", manifest="customer-support/prod-eu.json"),
    )
    policy = catalog.policy
    assert policy.approvers == {"alice@example.com", "bob@example.com"}
    assert policy.admins == {"carol@example.com"}
    assert policy.stages[Stage.STAGING] == StageRule(approvals=1)
    production = policy.stages[Stage.PRODUCTION]
    assert production.evals == {
        "support-evals": (Threshold(metric="accuracy", op=">=", value=0.8),)
    }
    assert production.card_fields == ("intended_use", "limitations", "training_data")
    assert production.licenses == ("apache-2.0", "mit", "llama3")
    assert production.max_eval_age_days == 30
    high = policy.rule_for(Stage.PRODUCTION, "high")
    assert (high.approvals, high.signed_approvals) == (2, True)
    assert high.evals == production.evals
    assert policy.rule_for(Stage.PRODUCTION, "limited") == production
    assert policy.rule_for(Stage.PRODUCTION, None) == production


def test_stage_the_policy_does_not_name_needs_one_approval() -> None:
    catalog, _ = load_catalog(FIXTURE)
    assert catalog.policy.rule_for(Stage.ARCHIVED, None) == StageRule()


def test_unknown_entry_and_workload_are_not_found() -> None:
    catalog, _ = load_catalog(FIXTURE)
    with pytest.raises(NotFound):
        catalog.entry("nope")
    with pytest.raises(NotFound, match="customer-support"):
        catalog.workload("nope")


def test_fixture_document_rebuilds_the_same_catalog() -> None:
    catalog, document = load_catalog(FIXTURE)
    assert catalog_from_document(document) == catalog


def test_folder_of_two_files_merges(tmp_path: Path) -> None:
    write(
        tmp_path,
        "models.yaml",
        """\
        entries:
          base: {kind: base_model, owner: ml@example.com, license: mit}
          prompt: {kind: prompt_template, owner: ml@example.com}
        """,
    )
    write(
        tmp_path,
        "nested/stacks.yml",
        """\
        entries:
          bot: {kind: stack, owner: ml@example.com, components: [base, prompt]}
        workloads:
          chat: {stack: bot}
        policy:
          approvers: [alice@example.com]
        """,
    )
    write(tmp_path, "notes.txt", "not: [yaml")
    catalog, document = load_catalog(tmp_path)
    assert set(catalog.entries) == {"base", "prompt", "bot"}
    assert catalog.workload("chat").stack == "bot"
    assert catalog.policy.approvers == {"alice@example.com"}
    assert set(document["entries"]) == {"base", "prompt", "bot"}


def test_merged_document_digest_ignores_file_layout(tmp_path: Path) -> None:
    one = write(tmp_path / "one", "catalog.yaml", ENTRIES)
    lines = ENTRIES.splitlines()
    write(tmp_path / "two", "a.yaml", "\n".join(lines[:3]) + "\n")
    write(tmp_path / "two", "b.yaml", "\n".join([lines[0], *lines[3:]]) + "\n")
    _, first = load_catalog(one)
    _, second = load_catalog(tmp_path / "two")
    assert catalog_digest(first) == catalog_digest(second)


def test_empty_yaml_file_is_an_empty_catalog(tmp_path: Path) -> None:
    catalog, _ = load_catalog(write(tmp_path, "empty.yaml", ""))
    assert dict(catalog.entries) == {}


# --- errors -------------------------------------------------------------------------------


def test_missing_catalog_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nope.yaml")
    assert "does not exist" in str(error)


def test_folder_without_yaml_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "readme.txt", "hello")
    assert "no .yaml files" in str(load_error(tmp_path))


def test_name_defined_twice_across_files_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "entries:\n  base: {kind: base_model, owner: me}\n")
    second = write(tmp_path, "b.yaml", "entries:\n  base: {kind: dataset, owner: you}\n")
    error = load_error(tmp_path)
    message = str(error)
    assert str(first) in message
    assert str(second) in message
    assert "'base' is already defined" in message
    assert error.entry == "base"


def test_workload_defined_twice_across_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", ENTRIES + "workloads:\n  chat: {stack: bot}\n")
    write(tmp_path, "b.yaml", "workloads:\n  chat: {stack: bot}\n")
    assert "workload 'chat' is already defined" in str(load_error(tmp_path))


def test_policy_defined_twice_across_files_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "policy: {approvers: [alice@example.com]}\n")
    second = write(tmp_path, "b.yaml", "policy: {approvers: [bob@example.com]}\n")
    message = str(load_error(tmp_path))
    assert str(first) in message
    assert str(second) in message


def test_name_defined_twice_in_one_file_is_an_error(tmp_path: Path) -> None:
    # PyYAML keeps the last of two equal keys; the first definition must not vanish silently.
    path = write(
        tmp_path,
        "catalog.yaml",
        """\
        entries:
          base: {kind: base_model, owner: ml@example.com, license: mit}
          base: {kind: dataset, owner: someone-else@example.com}
        """,
    )
    error = load_error(path)
    assert "base" in str(error)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        """\
        entries:
          base: {kind: base_model, owner: me
          other: [
        """,
    )
    message = str(load_error(path))
    assert message.startswith(f"{path}: line 3: ")


def test_bad_indentation_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", "entries:\n  a: {kind: dataset, owner: me}\n b: 1\n")
    message = str(load_error(path))
    assert str(path) in message
    assert "line 3" in message


def test_non_printable_character_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", 'entries:\n  a: {kind: dataset, owner: "a\x07b"}\n')
    assert str(path) in str(load_error(path))


def test_top_level_list_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", "- a\n- b\n")
    assert "top level must be a mapping" in str(load_error(path))


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", ENTRIES + "entires: {}\n")
    message = str(load_error(path))
    assert str(path) in message
    assert "'entires'" in message


def test_unknown_entry_key_names_file_entry_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        "entries:\n  base: {kind: base_model, owner: me, ownr: me, license: mit}\n",
    )
    error = load_error(path)
    assert str(error) == f"{path}: entries.base.ownr: unknown key (check its spelling)"
    assert error.entry == "base"
    assert error.path == str(path)


def test_misspelled_required_key_names_the_misspelling(tmp_path: Path) -> None:
    # `ownr` in place of `owner`: the error should point at the key the user typed.
    path = write(tmp_path, "catalog.yaml", "entries:\n  base: {kind: base_model, ownr: me}\n")
    message = str(load_error(path))
    assert str(path) in message
    assert "base" in message
    assert "ownr" in message


def test_unknown_policy_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "policy:\n  stages:\n    production: {aprovals: 2}\n",
    )
    message = str(load_error(path))
    assert message == f"{path}: policy.stages.production.aprovals: unknown key (check its spelling)"


def test_unknown_kind_names_file_and_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", "entries:\n  base: {kind: model, owner: me}\n")
    message = str(load_error(path))
    assert message.startswith(f"{path}: entries.base.kind: ")


def test_invalid_entry_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", "entries:\n  Base: {kind: dataset, owner: me}\n")
    assert "invalid name" in str(load_error(path))


def test_entry_name_with_two_dots_in_a_row_is_refused_like_everywhere_else(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "catalog.yaml", "entries:\n  a..b: {kind: dataset, owner: me}\n")
    message = str(load_error(path))
    assert message.startswith(f"{path}: entries.a..b")
    assert "invalid name 'a..b'" in message


def test_workload_and_reference_names_follow_the_entry_name_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "workloads:\n  chat..bot: {stack: bot}\n",
    )
    assert "invalid name 'chat..bot'" in str(load_error(path))
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES.replace("upstream: [base]", "upstream: [ba..se]"),
    )
    assert "invalid name 'ba..se'" in str(load_error(path))


def test_unknown_upstream_entry_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        "entries:\n  tuned: {kind: fine_tune, owner: me, upstream: [missing-base]}\n",
    )
    error = load_error(path)
    assert str(error) == f"{path}: entries.tuned: upstream names unknown entry 'missing-base'"
    assert error.entry == "tuned"


def test_entry_naming_itself_upstream_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "catalog.yaml", "entries:\n  a: {kind: dataset, owner: me, upstream: [a]}\n"
    )
    assert "upstream names the entry itself" in str(load_error(path))


def test_components_on_a_non_stack_are_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "  wrong: {kind: fine_tune, owner: me, components: [base]}\n",
    )
    message = str(load_error(path))
    assert message == f"{path}: entries.wrong: components: only a stack has components"


def test_stack_without_components_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", "entries:\n  bot: {kind: stack, owner: me}\n")
    assert "a stack pins at least one component" in str(load_error(path))


def test_stack_inside_a_stack_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "  outer: {kind: stack, owner: me, components: [bot]}\n",
    )
    assert "cannot contain another stack" in str(load_error(path))


def test_evaluates_on_a_non_suite_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "  judge: {kind: classifier, owner: me, evaluates: [base]}\n",
    )
    assert "only an eval_suite evaluates entries" in str(load_error(path))


def test_workload_pointing_at_a_non_stack_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", ENTRIES + "workloads:\n  chat: {stack: tuned}\n")
    error = load_error(path)
    assert str(error) == f"{path}: workloads.chat: stack: 'tuned' is a fine_tune"
    assert error.entry == "chat"


def test_workload_pointing_at_an_unknown_entry_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.yaml", ENTRIES + "workloads:\n  chat: {stack: nothing}\n")
    assert "stack names unknown entry 'nothing'" in str(load_error(path))


def test_workload_in_another_file_is_blamed_on_its_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", ENTRIES)
    workloads = write(tmp_path, "b.yaml", "workloads:\n  chat: {stack: tuned}\n")
    assert str(load_error(tmp_path)).startswith(f"{workloads}: workloads.chat:")


@pytest.mark.parametrize(
    "manifest",
    ["../escape.json", "chat/../../escape.json", "/etc/escape.json", "chat\\\\prod.json"],
)
def test_deployment_manifest_path_outside_the_folder_is_refused(
    tmp_path: Path, manifest: str
) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES
        + "workloads:\n  chat:\n    stack: bot\n"
        + f'    targets: {{prod: {{manifest: "{manifest}"}}}}\n',
    )
    message = str(load_error(path))
    assert "workloads.chat: targets.prod.manifest must be a relative path" in message


def test_bad_threshold_string_in_policy_names_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES
        + 'policy:\n  stages:\n    production:\n      evals: {evals: {accuracy: "=> 0.8"}}\n',
    )
    message = str(load_error(path))
    assert message.startswith(f"{path}: policy.stages.production.evals.evals: ")
    assert "'accuracy'" in message
    assert "'=> 0.8'" in message


def test_unquoted_threshold_in_policy_names_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "policy:\n  stages:\n    production:\n      evals: {evals: {accuracy: 0.8}}\n",
    )
    message = str(load_error(path))
    assert message.startswith(f"{path}: policy.stages.production.evals.evals.accuracy: ")


def test_bad_threshold_in_risk_class_override_names_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES
        + "policy:\n  stages:\n    production:\n      by_risk_class:\n"
        + '        high: {evals: {evals: {accuracy: ">= lots"}}}\n',
    )
    message = str(load_error(path))
    assert "policy.stages.production.by_risk_class.high.evals.evals" in message
    assert "'accuracy'" in message


def test_suite_without_thresholds_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + "policy:\n  stages:\n    production:\n      evals: {evals: {}}\n",
    )
    assert "name at least one metric threshold" in str(load_error(path))


def test_unknown_eval_suite_in_policy_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES
        + 'policy:\n  stages:\n    production:\n      evals: {ghost: {accuracy: ">= 0.8"}}\n',
    )
    message = str(load_error(path))
    assert message == f"{path}: policy.stages.production.evals: unknown eval suite 'ghost'"


def test_policy_eval_suite_that_is_not_a_suite_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES
        + 'policy:\n  stages:\n    production:\n      evals: {base: {accuracy: ">= 0.8"}}\n',
    )
    assert "'base' is a base_model" in str(load_error(path))


def test_unknown_eval_suite_in_risk_class_override_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES
        + "policy:\n  stages:\n    production:\n      by_risk_class:\n"
        + '        high: {evals: {ghost: {accuracy: ">= 0.8"}}}\n',
    )
    assert "unknown eval suite 'ghost'" in str(load_error(path))


def test_rule_for_candidate_stage_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "catalog.yaml", ENTRIES + "policy:\n  stages:\n    candidate: {approvals: 1}\n"
    )
    assert "policy.stages.candidate" in str(load_error(path))


@pytest.mark.parametrize("approvals", ["-1", "21", "two"])
def test_out_of_range_approvals_is_an_error(tmp_path: Path, approvals: str) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        ENTRIES + f"policy:\n  stages:\n    production: {{approvals: {approvals}}}\n",
    )
    assert "policy.stages.production.approvals" in str(load_error(path))


def test_lineage_cycle_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        """\
        entries:
          a: {kind: fine_tune, owner: me, upstream: [c]}
          b: {kind: fine_tune, owner: me, upstream: [a]}
          c: {kind: fine_tune, owner: me, upstream: [b]}
        """,
    )
    message = str(load_error(path))
    assert "lineage cycle" in message
    assert "a -> c -> b -> a" in message
    assert str(path) in message


@pytest.mark.parametrize("risk", ["severe", "High", "1"])
def test_bad_risk_class_is_an_error(tmp_path: Path, risk: str) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        f"entries:\n  a: {{kind: classifier, owner: me, risk_class: {risk}}}\n",
    )
    message = str(load_error(path))
    assert message.startswith(f"{path}: entries.a.risk_class: ")


def test_error_in_copied_fixture_names_the_copy(tmp_path: Path) -> None:
    copy = tmp_path / "catalog.yaml"
    shutil.copy(FIXTURE, copy)
    text = copy.read_text(encoding="utf-8").replace("risk_class: high", "risk_class: extreme")
    copy.write_text(text, encoding="utf-8")
    assert str(load_error(copy)).startswith(f"{copy}: entries.support-lora.risk_class: ")
