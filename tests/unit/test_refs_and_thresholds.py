"""Version references, metric thresholds, metric values and card fields."""

from __future__ import annotations

import math

import pytest

from registry_pipeline.core.cards import MAX_FIELD_CHARS, check_card_fields
from registry_pipeline.core.evals import Threshold, check_metrics, parse_threshold
from registry_pipeline.core.kinds import check_name, parse_kind
from registry_pipeline.core.refs import MAX_VERSION, ExactRef, VersionRef, parse_exact, parse_ref
from registry_pipeline.core.stages import Stage
from registry_pipeline.errors import BadInput

pytestmark = pytest.mark.unit

# --- references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", VersionRef(entry="a")),
        ("a@3", VersionRef(entry="a", version=3)),
        ("a@v3", VersionRef(entry="a", version=3)),
        ("a@V3", VersionRef(entry="a", version=3)),
        ("a@production", VersionRef(entry="a", stage=Stage.PRODUCTION)),
        ("a@candidate", VersionRef(entry="a", stage=Stage.CANDIDATE)),
        ("support-lora@12", VersionRef(entry="support-lora", version=12)),
        ("llama-3.1_8b@1", VersionRef(entry="llama-3.1_8b", version=1)),
        (f"a@{MAX_VERSION}", VersionRef(entry="a", version=MAX_VERSION)),
        ("x" * 128, VersionRef(entry="x" * 128)),
    ],
)
def test_parse_ref_accepts_valid_references(text: str, expected: VersionRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "A@1",
        "a@0",
        "a@-1",
        "a@@1",
        "a@foo",
        "a b",
        "a b@1",
        "x" * 129,
        "x" * 129 + "@1",
        "a@",
        "@1",
        "a@v",
        "a@1.5",
        "a@ 1",
        "a@Production",
        f"a@{MAX_VERSION + 1}",
        "a@\u0663",  # ARABIC-INDIC DIGIT THREE
        "-a@1",
        "a..b@1",
        "a/b@1",
    ],
)
def test_parse_ref_rejects_malformed_references(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_ref(text)
    assert "invalid reference" in str(info.value)
    assert type(info.value) is BadInput


@pytest.mark.parametrize("text", ["a@3", "a@v3"])
def test_parse_exact_accepts_a_version(text: str) -> None:
    assert parse_exact(text) == ExactRef(entry="a", version=3)


@pytest.mark.parametrize("text", ["a", "a@production", "a@0", "", "A@1", "a@@1"])
def test_parse_exact_rejects_anything_but_entry_at_version(text: str) -> None:
    with pytest.raises(BadInput, match="ENTRY@VERSION"):
        parse_exact(text)


@pytest.mark.parametrize("text", ["a", "a@3", "a@production"])
def test_reference_prints_back_as_typed(text: str) -> None:
    assert str(parse_ref(text)) == text


def test_v_prefixed_reference_prints_without_prefix() -> None:
    assert str(parse_ref("a@v3")) == "a@3"
    assert str(parse_exact("a@v3")) == "a@3"


def test_check_name_refuses_non_strings() -> None:
    with pytest.raises(BadInput):
        check_name(3)  # type: ignore[arg-type]


def test_parse_kind_lists_the_kinds_on_error() -> None:
    with pytest.raises(BadInput, match="use one of: base_model"):
        parse_kind("model")


# --- thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        (">= 0.80", ">=", 0.8),
        (">0.5", ">", 0.5),
        ("<= 1e-3", "<=", 0.001),
        ("== 1", "==", 1.0),
        ("< -2", "<", -2.0),
        ("  >=  .5  ", ">=", 0.5),
        (">= +3E2", ">=", 300.0),
    ],
)
def test_parse_threshold_reads_op_and_number(text: str, op: str, value: float) -> None:
    assert parse_threshold("accuracy", text) == Threshold(metric="accuracy", op=op, value=value)


@pytest.mark.parametrize(
    "text",
    [
        "0.8",
        "=> 0.8",
        ">= abc",
        ">= nan",
        ">= inf",
        "= 0.8",
        ">>= 0.8",
        ">= 0.8 extra",
        ">= ",
        "",
        "!= 1",
        ">= 0,8",
        0.8,
        1,
        None,
    ],
)
def test_parse_threshold_rejects_malformed_thresholds(text: object) -> None:
    with pytest.raises(BadInput) as info:
        parse_threshold("accuracy", text)
    assert "bad threshold" in str(info.value)
    assert "'accuracy'" in str(info.value)


def test_parse_threshold_rejects_numbers_that_overflow_to_infinity() -> None:
    with pytest.raises(BadInput, match="must be finite"):
        parse_threshold("accuracy", ">= 1e999")


@pytest.mark.parametrize("metric", ["", " accuracy", "acc\nuracy", "x" * 129])
def test_parse_threshold_rejects_bad_metric_names(metric: str) -> None:
    with pytest.raises(BadInput, match="bad metric name"):
        parse_threshold(metric, ">= 0.8")


@pytest.mark.parametrize(
    ("text", "observed", "passes"),
    [
        (">= 0.8", 0.8, True),
        (">= 0.8", 0.79, False),
        ("> 0.8", 0.8, False),
        ("<= 200", 200.0, True),
        ("< 200", 200.0, False),
        ("== 1", 1.0, True),
        ("== 1", 0.999, False),
    ],
)
def test_threshold_check_applies_its_operator(text: str, observed: float, passes: bool) -> None:
    assert parse_threshold("m", text).check(observed) is passes


def test_threshold_prints_metric_op_value() -> None:
    assert str(parse_threshold("accuracy", ">= 0.80")) == "accuracy >= 0.8"


# --- metric values ------------------------------------------------------------------------


def test_check_metrics_returns_floats() -> None:
    clean = check_metrics({"accuracy": 0.9, "examples": 412, "loss/eval": -1.5})
    assert clean == {"accuracy": 0.9, "examples": 412.0, "loss/eval": -1.5}
    assert all(type(v) is float for v in clean.values())


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, True, False, "0.9", None, [0.9], {"v": 1}],
    ids=repr,
)
def test_check_metrics_rejects_values_that_are_not_finite_numbers(value: object) -> None:
    with pytest.raises(BadInput, match="'accuracy'"):
        check_metrics({"accuracy": value})


def test_check_metrics_rejects_integer_too_large_for_a_float() -> None:
    # A JSON eval report can carry an integer like this; json.loads keeps it an int.
    with pytest.raises(BadInput, match="'examples'"):
        check_metrics({"examples": 10**400})


@pytest.mark.parametrize("metrics", [{}, [], None, "accuracy"], ids=repr)
def test_check_metrics_needs_a_non_empty_mapping(metrics: object) -> None:
    with pytest.raises(BadInput, match="non-empty mapping"):
        check_metrics(metrics)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", " lead", "a\tb", 3])
def test_check_metrics_rejects_bad_metric_names(name: object) -> None:
    with pytest.raises(BadInput, match="bad metric name"):
        check_metrics({name: 1.0})  # type: ignore[dict-item]


# --- card fields --------------------------------------------------------------------------


def test_check_card_fields_keeps_text_and_turns_lists_into_tuples_of_text() -> None:
    clean = check_card_fields(
        {"intended_use": "Drafting replies", "limitations": ["English only", 3, 0.5]}
    )
    assert clean == {
        "intended_use": "Drafting replies",
        "limitations": ("English only", "3", "0.5"),
    }


@pytest.mark.parametrize("fields", [{}, [], None, "intended_use: x", [("a", "b")]], ids=repr)
def test_check_card_fields_needs_a_non_empty_mapping(fields: object) -> None:
    with pytest.raises(BadInput, match="non-empty mapping"):
        check_card_fields(fields)


@pytest.mark.parametrize("name", ["", "Intended_use", "intended-use", "intended use", 1])
def test_check_card_fields_requires_snake_case_names(name: object) -> None:
    with pytest.raises(BadInput, match="snake_case"):
        check_card_fields({name: "text"})


@pytest.mark.parametrize(
    "value",
    [None, 3, {"a": "b"}, ["ok", ["nested"]], ["ok", True], ["ok", None]],
    ids=repr,
)
def test_check_card_fields_rejects_values_that_are_not_text(value: object) -> None:
    with pytest.raises(BadInput, match="'limitations'"):
        check_card_fields({"limitations": value})


def test_check_card_fields_limits_field_length() -> None:
    assert check_card_fields({"notes": "x" * MAX_FIELD_CHARS})
    with pytest.raises(BadInput, match=f"over {MAX_FIELD_CHARS} characters"):
        check_card_fields({"notes": "x" * (MAX_FIELD_CHARS + 1)})
    with pytest.raises(BadInput, match=f"over {MAX_FIELD_CHARS} characters"):
        check_card_fields({"notes": ["short", "x" * (MAX_FIELD_CHARS + 1)]})
