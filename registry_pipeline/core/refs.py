"""References to versions as users type them: ``ENTRY``, ``ENTRY@3``, ``ENTRY@production``."""

from __future__ import annotations

from dataclasses import dataclass

from registry_pipeline.core.errors import BadInput
from registry_pipeline.core.kinds import check_name
from registry_pipeline.core.stages import Stage

MAX_VERSION = 2**31 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRef:
    """A parsed reference: an entry and at most one of a version number or a stage."""

    entry: str
    version: int | None = None
    stage: Stage | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.entry}@{self.version}"
        if self.stage is not None:
            return f"{self.entry}@{self.stage}"
        return self.entry


def parse_ref(text: str, *, require_version: bool = False) -> VersionRef:
    """Parse ``ENTRY``, ``ENTRY@VERSION`` (``3`` or ``v3``) or ``ENTRY@STAGE``.

    Args:
        text: what the user typed.
        require_version: when true, only ``ENTRY@VERSION`` is accepted.

    Raises:
        BadInput: the text is not a reference; the message shows the accepted forms.
    """
    form = (
        "ENTRY@VERSION, e.g. support-lora@3"
        if require_version
        else ("ENTRY, ENTRY@VERSION or ENTRY@STAGE, e.g. support-lora@3 or support-lora@production")
    )
    if not isinstance(text, str) or text.count("@") > 1:
        raise BadInput(f"invalid reference {text!r}: use {form}")
    name, _, suffix = text.partition("@")
    try:
        check_name(name)
    except BadInput:
        raise BadInput(f"invalid reference {text!r}: bad entry name; use {form}") from None
    if not suffix:
        if require_version or "@" in text:
            raise BadInput(f"invalid reference {text!r}: missing version; use {form}")
        return VersionRef(entry=name)
    number = suffix[1:] if suffix[:1] in ("v", "V") else suffix
    if number.isascii() and number.isdigit():
        value = int(number)
        if not 1 <= value <= MAX_VERSION:
            raise BadInput(f"invalid reference {text!r}: versions start at 1; use {form}")
        return VersionRef(entry=name, version=value)
    if not require_version:
        try:
            return VersionRef(entry=name, stage=Stage(suffix))
        except ValueError:
            pass
    raise BadInput(f"invalid reference {text!r}: {suffix!r} is not a version number; use {form}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactRef:
    """A reference to one exact version."""

    entry: str
    version: int

    def __str__(self) -> str:
        return f"{self.entry}@{self.version}"


def parse_exact(text: str) -> ExactRef:
    """Parse ``ENTRY@VERSION``; raises :class:`BadInput` for any other form."""
    ref = parse_ref(text, require_version=True)
    if ref.version is None:
        raise BadInput(f"invalid reference {text!r}: use ENTRY@VERSION, e.g. support-lora@3")
    return ExactRef(entry=ref.entry, version=ref.version)
