"""Who acts and why: the rules for actor names and reasons (entry names: ``kinds.check_name``)."""

from __future__ import annotations

from collections.abc import Iterable

from registry_pipeline.core.errors import BadInput, Step

MAX_ACTOR = 256
MAX_REASON = 2000


def check_actor(actor: str) -> str:
    """Validate an actor name (printable, 1-256 characters, no surrounding spaces).

    Raises:
        BadInput: naming the actor.
    """
    if not actor or len(actor) > MAX_ACTOR or not actor.isprintable() or actor != actor.strip():
        raise BadInput(
            f"invalid actor {actor[:60]!r}: use a printable name such as alice@example.com"
        )
    return actor


def check_reason(reason: str) -> str:
    """A reason is required, printable on one line, at most 2000 characters.

    Returns:
        The reason without surrounding whitespace.

    Raises:
        BadInput: empty, too long, or with control characters.
    """
    if not reason or not reason.strip():
        raise BadInput("a reason is required", step=Step.GIVE_REASON)
    if len(reason) > MAX_REASON:
        raise BadInput(f"the reason is over {MAX_REASON} characters; shorten it")
    if any(ord(c) < 32 and c not in "\t" for c in reason):
        raise BadInput("the reason must be one line of text without control characters")
    return reason.strip()


def parse_pairs(pairs: Iterable[str], *, what: str = "param") -> dict[str, str]:
    """``KEY=VALUE`` strings as a mapping (the value may hold ``=``; a later key wins).

    Raises:
        BadInput: a string without ``=``.
    """
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise BadInput(f"{what} {pair[:40]!r} must be KEY=VALUE")
        found[key] = value
    return found
