"""Prompt templates: declared variables must equal the template's, syntax errors name a line."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats_helpers import bad_input, sample, write_json

from registry_pipeline.formats import detect

pytestmark = pytest.mark.unit

TEMPLATE = "Hello {{ name }}, about {{ topic }}:\n{% for d in docs %}- {{ d }}\n{% endfor %}"


def _prompt(folder: Path, template: str = TEMPLATE, variables: object = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prompt.jinja").write_text(template, encoding="utf-8")
    declared = ["docs", "name", "topic"] if variables is None else variables
    write_json(folder / "prompt.json", {"variables": declared})
    return folder


def test_checked_in_prompt_with_yaml_variables(tmp_path: Path) -> None:
    found = detect(sample("prompt", tmp_path))
    assert found.format == "prompt-template"
    assert found.facts == {
        "template": "answer.j2",
        "variables_file": "prompt.yaml",
        "engine": "jinja2",
        "variables": ["company", "history", "question", "tone"],
    }
    assert found.warnings == []


def test_json_variables_and_a_single_template(tmp_path: Path) -> None:
    found = detect(_prompt(tmp_path / "p"))
    assert found.facts == {
        "template": "prompt.jinja",
        "variables_file": "prompt.json",
        "engine": "jinja2",
        "variables": ["docs", "name", "topic"],
    }


def test_globals_and_set_names_are_not_variables(tmp_path: Path) -> None:
    template = "{% set n = 3 %}{% for i in range(n) %}{{ i }}{{ loop.index }}{% endfor %}{{ q }}"
    found = detect(_prompt(tmp_path / "p", template, ["q"]))
    assert found.facts["variables"] == ["q"]


def test_undeclared_variable(tmp_path: Path) -> None:
    folder = _prompt(tmp_path / "p", variables=["docs", "name"])
    bad_input(
        lambda: detect(folder),
        "prompt.jinja: uses undeclared variable(s) topic; make prompt.json list exactly",
    )


def test_unused_and_undeclared_together(tmp_path: Path) -> None:
    folder = _prompt(tmp_path / "p", variables=["docs", "name", "tone", "style"])
    bad_input(
        lambda: detect(folder),
        "prompt.jinja: uses undeclared variable(s) topic; never uses declared variable(s) "
        "style, tone",
    )


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    folder = _prompt(tmp_path / "p", "line one\n{{ name }}\n{% for x in docs %}\n{{ x }\n")
    bad_input(lambda: detect(folder), "prompt.jinja: template syntax error on line 4")


def test_includes_are_recorded(tmp_path: Path) -> None:
    folder = _prompt(tmp_path / "p", "{% include 'header.txt' %}{{ name }}", ["name"])
    found = detect(folder)
    assert found.facts["references"] == ["header.txt"]
    assert found.warnings == ["prompt.jinja: includes header.txt, not in the folder"]


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        (["name", "name"], "name declared more than once"),
        (["not-a-name"], "'not-a-name' is not a variable name"),
        ("name", "variables: Input should be a valid list"),
    ],
)
def test_bad_variables(tmp_path: Path, variables: object, fragment: str) -> None:
    folder = _prompt(tmp_path / "p", variables=variables)
    bad_input(lambda: detect(folder), "prompt.json", fragment)


def test_variables_file_rules(tmp_path: Path) -> None:
    folder = _prompt(tmp_path / "p")
    write_json(folder / "prompt.json", {"variables": ["name"], "vars": []})
    bad_input(lambda: detect(folder), "prompt.json: unknown key 'vars'")
    write_json(folder / "prompt.json", {"variables": ["name"], "template": "../x.jinja"})
    bad_input(lambda: detect(folder), "template '../x.jinja' is not a file inside the folder")
    write_json(folder / "prompt.json", {"variables": ["name"], "template": "other.j2"})
    bad_input(lambda: detect(folder), "names template 'other.j2', which is missing")
    (folder / "prompt.yaml").write_text("variables: [name]\n", encoding="utf-8")
    bad_input(lambda: detect(folder), "prompt.json, prompt.yaml: more than one variables file")


def test_template_choice(tmp_path: Path) -> None:
    folder = _prompt(tmp_path / "p")
    (folder / "notes.txt").write_text("{{ whatever }}", encoding="utf-8")
    assert detect(folder).facts["template"] == "prompt.jinja"
    (folder / "prompt.jinja").rename(folder / "main.jinja")
    bad_input(lambda: detect(folder), "several templates (main.jinja, notes.txt)")
    for path in (folder / "main.jinja", folder / "notes.txt"):
        path.unlink()
    bad_input(lambda: detect(folder), "declares variables but the folder has no template")


def test_template_without_variables_file_is_files(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "prompt.jinja").write_text(TEMPLATE, encoding="utf-8")
    found = detect(folder)
    assert (found.format, found.facts) == ("files", {})
    assert found.warnings == [
        "prompt.jinja: a template without prompt.json; declare its variables there to record "
        "it as a prompt-template"
    ]
