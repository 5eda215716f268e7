"""Every error the registry raises on purpose.

One root, :class:`RegistryError`. Each subclass also inherits the built-in exception it
resembles (a not-found is a ``LookupError``, bad input a ``ValueError``) and carries the
fields it concerns. The message of every error is one line of facts: what is wrong, with
the names and values involved. How to fix it through a given entry point (a command and
its flags, an HTTP route) is not a fact of the error: an error names its next step as a
:class:`Step`, and each entry point's error table (``registry_pipeline.cli._errors``)
turns the step into its own words and the error class into its exit code or status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    """The next step that would resolve an error, named without any entry point's syntax."""

    INIT = "init"
    """Create the registry and load a catalog."""
    INIT_HERE = "init_here"
    """Create a registry at this location, or point at another one."""
    UPGRADE_SCHEMA = "upgrade_schema"
    """Apply the pending schema migrations."""
    DECLARE_ENTRY = "declare_entry"
    """Declare the entry in the catalog and load the catalog again."""
    GIVE_REASON = "give_reason"
    """Say why."""
    REGISTER_VERSION = "register_version"
    """Register a first version of ``entry``."""
    REQUEST_IDS = "request_ids"
    """Use a request id as the registry printed it."""
    OPEN_REQUEST = "open_request"
    """Open a promotion request."""
    SEE_GATES = "see_gates"
    """Read the gates of the pending request ``request``."""
    SIGN_APPROVAL = "sign_approval"
    """Approve again, signed with the key the policy names for ``approver``."""
    STACK_PINS = "stack_pins"
    """Register the stack by pinning each component's exact version."""
    PINS_ARE_FOR_STACKS = "pins_are_for_stacks"
    """Component pins apply to stacks only."""
    PIN_COMPONENTS = "pin_components"
    """Pin the exact version of each missing stack component."""
    PIN_UPSTREAM = "pin_upstream"
    """Pin the exact version of each missing upstream."""
    ANCHOR_FORMAT = "anchor_format"
    """Give the anchor as ``SEQ:HASH``, as the registry printed it."""
    LOG_IN = "log_in"
    """Authenticate: get a token and present it."""
    MAKE_KEY = "make_key"
    """Make an Ed25519 signing key."""
    BUILD_INVENTORY = "build_inventory"
    """Build the DuckDB inventory."""
    OUT_IS_A_FOLDER = "out_is_a_folder"
    """Write the export into a folder."""
    DRAFT_CATALOG = "draft_catalog"
    """Draft the missing catalog entries, review them, load the catalog, import again."""
    SELECT_MODELS = "select_models"
    """Import only some of the source registry's models."""
    ALLOW_PRIVATE_WEBHOOKS = "allow_private_webhooks"
    """Run the server with private and loopback webhook receivers allowed."""


class RegistryError(Exception):
    """Root of the registry's errors."""

    def __init__(
        self,
        message: str,
        *,
        entry: str | None = None,
        version: int | None = None,
        stage: str | None = None,
        hint: str | None = None,
        step: Step | None = None,
        about: Mapping[str, object] | None = None,
    ) -> None:
        """``hint`` adds facts that help (``latest is x@3``); ``step`` names the next step and
        ``about`` the values its words need (``{"request": 7}``)."""
        message = _one_line(message)
        hint = _one_line(hint) if hint else hint
        super().__init__(message)
        self.message = message
        self.entry = entry
        self.version = version
        self.stage = stage
        self.hint = hint
        self.step = step
        self.about = dict(about or {})

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping (the entry points add the next step's words)."""
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


class Conflict(RegistryError):
    """The request contradicts the current state (already decided, duplicate approval...)."""


class Refused(RegistryError, PermissionError):
    """A gate or a permission refused the operation."""


class Unauthenticated(Refused):
    """No credentials, or credentials that prove nothing: malformed, unknown, revoked or
    expired token, a JWT that fails verification. Says which, never whose."""


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
