"""Provider-hosted models: whether a version pins a snapshot, and how near its end it is.

A provider model's version is its spec (provider, model id, snapshot, endpoint). The spec
pins what runs only when the snapshot names one fixed model build: ``latest``, an alias
ending in ``-latest``, an empty snapshot or the bare model id all follow whatever the
provider serves today. The provider's ``deprecation_date`` is when the snapshot stops
being served; a production model needs replacing before then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

#: The format name under which ``register`` records a provider spec (``provider.yaml``).
PROVIDER_FORMAT = "provider-model"
#: A production model this close to (or past) its deprecation date needs attention.
DEPRECATION_NOTICE_DAYS = 30
#: Snapshot names that follow the provider's current model instead of pinning one.
FLOATING_ALIASES = frozenset({"latest", "current", "default"})
_FLOATING_SUFFIXES = ("-latest", ":latest", "@latest", "/latest", "_latest", ".latest")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderPin:
    """What a provider model's version pins: the model id, its snapshot and when the
    provider retires that snapshot."""

    provider: str
    model_id: str
    snapshot: str
    deprecation_date: date | None = None

    @classmethod
    def from_format(cls, recorded: Mapping[str, object]) -> ProviderPin | None:
        """The pin in a version's recorded format facts (``{"format": "provider-model",
        "facts": {...}}``), or ``None`` when the version recorded no provider spec.

        A deprecation date that is not ISO text is read as absent.
        """
        if recorded.get("format") != PROVIDER_FORMAT:
            return None
        facts = recorded.get("facts")
        if not isinstance(facts, Mapping):
            return None
        deprecation: date | None = None
        raw = facts.get("deprecation_date")
        if isinstance(raw, str):
            try:
                deprecation = date.fromisoformat(raw)
            except ValueError:
                deprecation = None
        return cls(
            provider=str(facts.get("provider") or ""),
            model_id=str(facts.get("model_id") or ""),
            snapshot=str(facts.get("snapshot") or ""),
            deprecation_date=deprecation,
        )

    def __str__(self) -> str:
        return f"{self.provider} {self.model_id} snapshot {self.snapshot or '(none)'}"


def floating_problem(pin: ProviderPin) -> str | None:
    """Why ``pin``'s snapshot does not pin one model build, or ``None`` when it does.

    Floating: an empty snapshot, ``latest`` (or ``current``, ``default``), an alias
    ending in ``-latest`` (``claude-3-5-sonnet-latest``, ``llama3:latest``), or the bare
    model id (``gpt-4o`` for model ``gpt-4o``).
    """
    snapshot = pin.snapshot.strip()
    lowered = snapshot.lower()
    if not snapshot:
        return f"{pin.model_id} has no snapshot, so it follows whatever the provider serves"
    if lowered in FLOATING_ALIASES or lowered.endswith(_FLOATING_SUFFIXES):
        return (
            f"snapshot {snapshot!r} of {pin.model_id} is an alias that moves when the "
            "provider ships a new model; pin a dated snapshot"
        )
    if lowered == pin.model_id.strip().lower():
        return (
            f"snapshot {snapshot!r} is the bare model id, which the provider points at its "
            "newest build; pin a dated snapshot"
        )
    return None


def days_to_deprecation(pin: ProviderPin, today: date) -> int | None:
    """Days from ``today`` to the deprecation date (negative once past); ``None`` when the
    spec names no deprecation date."""
    if pin.deprecation_date is None:
        return None
    return (pin.deprecation_date - today).days


def deprecation_problem(
    pin: ProviderPin, today: date, *, notice_days: int = DEPRECATION_NOTICE_DAYS
) -> str | None:
    """Why ``pin`` is past or within ``notice_days`` of its deprecation date, or ``None``."""
    left = days_to_deprecation(pin, today)
    if left is None or left > notice_days:
        return None
    when = pin.deprecation_date.isoformat() if pin.deprecation_date else ""
    if left < 0:
        return f"{pin.model_id} {pin.snapshot} was deprecated on {when}, {_days(-left)} ago"
    if left == 0:
        return f"{pin.model_id} {pin.snapshot} is deprecated today ({when})"
    return (
        f"{pin.model_id} {pin.snapshot} is deprecated on {when}, in {_days(left)} "
        f"(notice period {_days(notice_days)})"
    )


def _days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"


def pin_problems(pin: ProviderPin, today: date) -> list[str]:
    """Every reason ``pin`` should not serve production on ``today``."""
    return [p for p in (floating_problem(pin), deprecation_problem(pin, today)) if p]


def registration_warnings(pin: ProviderPin, today: date) -> list[str]:
    """What registering a version pinning ``pin`` on ``today`` should warn about: a floating
    snapshot (production refuses it) and a deprecation date past or within the notice
    period."""
    warnings = []
    floating = floating_problem(pin)
    if floating:
        warnings.append(f"{floating}; promotion to production will be refused")
    ending = deprecation_problem(pin, today)
    if ending:
        warnings.append(f"{ending}; plan the move to a newer snapshot")
    return warnings
