"""The CLI's one error table: error class to exit code, next step to the command that takes it.

Errors below the CLI carry facts (what is wrong, with names and values) and name their next
step as a :class:`~registry_pipeline.errors.Step`; this table adds the words a person at a
shell needs: the command and the flags.
"""

from __future__ import annotations

from typing import Any

from registry_pipeline.core.errors import (
    BadInput,
    Conflict,
    NotFound,
    Refused,
    RegistryError,
    Step,
)

EXIT_CODES: tuple[tuple[type[RegistryError], int], ...] = (
    (BadInput, 2),
    (NotFound, 3),
    (Conflict, 4),
    (Refused, 5),
)
"""The contract's exit codes, by error class (the first class an error is an instance of);
any other :class:`RegistryError` (the store unavailable, an internal fault) exits 1."""

NEXT_STEPS: dict[Step, str] = {
    Step.INIT: "run `registry init --catalog PATH` first",
    Step.INIT_HERE: "run `registry init --catalog PATH` here, or pass --database",
    Step.UPGRADE_SCHEMA: "run `registry db upgrade`",
    Step.DECLARE_ENTRY: "declare it in the catalog and run `registry init --catalog PATH`",
    Step.GIVE_REASON: "say why with --reason TEXT",
    Step.REGISTER_VERSION: "register one with `registry register {entry} SOURCE`",
    Step.REQUEST_IDS: "request ids are positive numbers printed by `registry promote`",
    Step.OPEN_REQUEST: "`registry promote ENTRY@VERSION --to STAGE` opens one",
    Step.SEE_GATES: "see `registry gates {request}`",
    Step.SIGN_APPROVAL: (
        "approve again with --key KEYFILE (the key whose public half is "
        "policy.approver_keys[{approver}])"
    ),
    Step.STACK_PINS: "register it with --pin ENTRY@VERSION for each component",
    Step.PINS_ARE_FOR_STACKS: "--pin is for stacks",
    Step.PIN_COMPONENTS: "(--pin ENTRY@VERSION)",
    Step.PIN_UPSTREAM: "(--upstream ENTRY@VERSION)",
    Step.ANCHOR_FORMAT: "use SEQ:HASH as printed by `registry audit anchor`",
    Step.LOG_IN: "ask an admin for a token (`registry tokens create`) and `registry login`",
    Step.MAKE_KEY: "make one with `registry keys generate`",
    Step.BUILD_INVENTORY: (
        "build one with `registry export inventory --out DIR` (or run any `registry sql`)"
    ),
    Step.OUT_IS_A_FOLDER: "pass a folder to --out",
    Step.DRAFT_CATALOG: (
        "run again with --write-catalog PATH to draft the missing entries, review "
        "and add them to the catalog, then `registry init --catalog CATALOG`"
    ),
    Step.SELECT_MODELS: "rename it in MLflow, or leave it out with --model",
    Step.ALLOW_PRIVATE_WEBHOOKS: (
        "receivers on this network need `registry serve --allow-private-webhooks` "
        "(REGISTRY_ALLOW_PRIVATE_WEBHOOKS=1)"
    ),
}


def code_for(kind: type[RegistryError]) -> int:
    """The contract's exit code for errors of class ``kind``."""
    return next((code for cls, code in EXIT_CODES if issubclass(kind, cls)), 1)


def exit_code(error: RegistryError) -> int:
    """The contract's exit code for ``error``."""
    return code_for(type(error))


def line(error: RegistryError) -> str:
    """The one line a person reads: the facts, then the next step in this CLI's words."""
    text = str(error)
    if error.step is None:
        return text
    words = NEXT_STEPS[error.step].format(
        entry=error.entry, version=error.version, stage=error.stage, **error.about
    )
    return f"{text} {words}" if words.startswith("(") else f"{text}; {words}"


def document(error: RegistryError) -> dict[str, Any]:
    """The ``--json`` error document: the error's fields, its message as :func:`line` says it."""
    data = error.to_dict()
    data["message"] = line(error)
    return data
