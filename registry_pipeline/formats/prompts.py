"""Prompt templates: a Jinja2 template and the variables file that declares its inputs.

A prompt folder holds a template (``*.jinja``, ``*.j2`` or ``*.txt``, read as Jinja2) and
a variables file, ``prompt.json``, ``prompt.yaml`` or ``prompt.yml``::

    {"variables": ["company", "documents", "question"], "template": "prompt.jinja"}

``template`` is optional when the folder holds one template, or one whose name starts
with ``prompt.``. The template is parsed (never rendered) and the variables it reads
from its context must equal the declared ones: a variable used but not declared, or
declared but never used, is an error. Jinja2's own globals (``range``, ``dict``...) and
names the template sets itself are not variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, field_validator

from registry_pipeline.core.digests import check_relative_path
from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import read_text, validate
from registry_pipeline.inputs.documents import one_line, parse_json, parse_yaml

VARIABLES_NAMES = ("prompt.json", "prompt.yaml", "prompt.yml")
TEMPLATE_SUFFIXES = (".jinja", ".j2", ".txt")
ENGINE = "jinja2"


class PromptVariables(BaseModel):
    """The declared inputs of a template."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    variables: list[str]
    template: str | None = None

    @field_validator("variables")
    @classmethod
    def _identifiers(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a variable name (letters, digits and _)")
        repeated = sorted({n for n in value if value.count(n) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} declared more than once")
        return value


def template_variables(source: str, where: str) -> tuple[set[str], list[str]]:
    """The context variables a template reads, and the templates it includes or extends.

    Raises:
        BadInput: the template has a syntax error; the message gives the line.
    """
    environment = SandboxedEnvironment()
    try:
        tree = environment.parse(source)
        used = set(meta.find_undeclared_variables(tree)) - set(environment.globals)
        references = sorted(str(r) for r in meta.find_referenced_templates(tree) if r)
    except jinja2.TemplateSyntaxError as e:
        raise BadInput(
            f"{where}: template syntax error on line {e.lineno}: {one_line(e.message or e)}"
        ) from None
    except jinja2.TemplateError as e:
        raise BadInput(f"{where}: template error: {one_line(e)}") from None
    return used, references


def find_variables_file(root: Path) -> Path | None:
    """The variables file of a prompt folder, ``None`` when there is none.

    Raises:
        BadInput: more than one variables file is present.
    """
    found = [root / name for name in VARIABLES_NAMES if (root / name).is_file()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise BadInput(f"{names}: more than one variables file; keep one")
    return found[0] if found else None


def read_variables(path: Path, where: str) -> PromptVariables:
    """Read and validate a variables file (JSON, or YAML for ``.yaml``/``.yml``).

    Raises:
        BadInput: the file is malformed; the message names it.
    """
    text = read_text(path, where)
    document = parse_json(text, where) if path.suffix == ".json" else parse_yaml(text, where=where)
    return validate(PromptVariables, document, where)


def _template_path(root: Path, declared: PromptVariables, where: str) -> Path:
    if declared.template is not None:
        try:
            check_relative_path(declared.template)
        except BadInput:
            raise BadInput(
                f"{where}: template {declared.template!r} is not a file inside the folder"
            ) from None
        path = root / declared.template
        if not path.is_file():
            raise BadInput(f"{where}: names template {declared.template!r}, which is missing")
        return path
    candidates = sorted(
        p for p in root.iterdir() if p.is_file() and p.suffix.lower() in TEMPLATE_SUFFIXES
    )
    if len(candidates) > 1:
        preferred = [p for p in candidates if p.stem == "prompt"]
        candidates = preferred or candidates
    if not candidates:
        raise BadInput(
            f"{where}: declares variables but the folder has no template "
            f"({', '.join('*' + s for s in TEMPLATE_SUFFIXES)})"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise BadInput(f'{where}: several templates ({names}); name one as "template"')
    return candidates[0]


def read_prompt(root: Path, variables_file: Path) -> tuple[dict[str, Any], list[str]]:
    """Read a prompt folder: facts ``template``, ``variables_file``, ``engine`` and the
    sorted ``variables`` (plus ``references`` when it includes other templates).

    Raises:
        BadInput: the variables file or template is malformed, or the declared variables
            differ from those the template uses; the message names them.
    """
    where = variables_file.name
    declared = read_variables(variables_file, where)
    template = _template_path(root, declared, where)
    shown_as = template.relative_to(root).as_posix()
    used, references = template_variables(read_text(template, shown_as), shown_as)
    names = set(declared.variables)
    undeclared, unused = sorted(used - names), sorted(names - used)
    problems = []
    if undeclared:
        problems.append(f"uses undeclared variable(s) {', '.join(undeclared)}")
    if unused:
        problems.append(f"never uses declared variable(s) {', '.join(unused)}")
    if problems:
        raise BadInput(
            f"{shown_as}: {'; '.join(problems)}; make {where} list exactly the template's variables"
        )
    facts: dict[str, Any] = {
        "template": shown_as,
        "variables_file": where,
        "engine": ENGINE,
        "variables": sorted(names),
    }
    warnings: list[str] = []
    if references:
        facts["references"] = references
        missing = [r for r in references if not (root / r).is_file()]
        if missing:
            warnings.append(f"{shown_as}: includes {', '.join(missing)}, not in the folder")
    return facts, warnings
