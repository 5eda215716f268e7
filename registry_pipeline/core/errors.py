"""Every error the registry raises on purpose.

One root, :class:`RegistryError`. Each subclass also inherits the built-in exception it
resembles (a not-found is a ``LookupError``, bad input a ``ValueError``), carries the
fields it concerns, and maps to one exit code of the CLI contract. The message of every
error is one line that says what is wrong and, where there is one, the next step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RegistryError(Exception):
    """Root of the registry's errors. ``exit_code`` is the CLI's code for it."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        entry: str | None = None,
        version: int | None = None,
        stage: str | None = None,
        hint: str | None = None,
    ) -> None:
        message = _one_line(message)
        hint = _one_line(hint) if hint else hint
        super().__init__(message)
        self.message = message
        self.entry = entry
        self.version = version
        self.stage = stage
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping (for ``--json`` output)."""
        data: dict[str, Any] = {"error": type(self).__name__, "message": str(self)}
        for key in ("entry", "version", "stage"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


def _one_line(text: str) -> str:
    """Messages are one line: control characters a user put in a name are shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BadInput(RegistryError, ValueError):
    """The caller gave something malformed: a name, a file, a threshold, a reference."""

    exit_code = 2


class CatalogError(BadInput):
    """The catalog YAML is malformed; the message names the file, the entry and the key."""

    def __init__(self, message: str, *, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class SourceError(BadInput):
    """A source folder or file cannot be registered (escaping symlink, special file...)."""

    def __init__(self, message: str, *, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class NotFound(RegistryError, LookupError):
    """An entry, version, request, workload or registry that does not exist."""

    exit_code = 3


class Conflict(RegistryError):
    """The request contradicts the current state (already decided, duplicate approval...)."""

    exit_code = 4


class Refused(RegistryError, PermissionError):
    """A gate or a permission refused the operation."""

    exit_code = 5


class GateRefused(Refused):
    """A promotion was refused because at least one gate failed; ``gates`` lists them all."""

    def __init__(self, message: str, *, gates: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.gates = list(gates)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["gates"] = [
            {"name": g.name, "passed": g.passed, "detail": g.detail} for g in self.gates
        ]
        return data


class StoreUnavailable(RegistryError):
    """The database could not be reached or answered with an error that is not ours."""

    exit_code = 1
