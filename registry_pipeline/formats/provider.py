"""Provider-hosted models: a ``provider.yaml`` spec pins what is called and where.

Example::

    provider: openai
    model_id: gpt-4o
    snapshot: gpt-4o-2024-08-06       # the pinned snapshot, or its date (2024-08-06)
    endpoint: https://api.openai.com/v1
    deprecation_date: 2026-06-30      # optional, ISO date

No other key is accepted. ``endpoint`` is an https URL without credentials. The spec's
identity is :func:`provider_spec_digest`: the sha256 of the canonical JSON of the
validated spec, so reformatting the YAML or reordering keys does not change it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from registry_pipeline.core.digests import digest_of_document
from registry_pipeline.formats._common import read_text, validate
from registry_pipeline.inputs.documents import parse_yaml

SPEC_NAMES = ("provider.yaml", "provider.yml")
DIGEST_FORMAT = "registry-pipeline/provider-model/v1"
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


class ProviderSpec(BaseModel):
    """A validated provider-hosted model spec."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    provider: str
    model_id: str
    snapshot: str
    endpoint: str
    deprecation_date: date | None = None

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        if not _PROVIDER.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a provider name: use lowercase letters, digits, '.', '_' "
                "and '-' (e.g. openai, anthropic, azure-openai)"
            )
        return value

    @field_validator("snapshot", mode="before")
    @classmethod
    def _snapshot_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2024-08-06 as a date and 20241022 as an integer.
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("model_id", "snapshot")
    @classmethod
    def _token(cls, value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError(
                f"{value!r} must be one token of letters, digits and . _ : / @ + - "
                "(at most 200 characters)"
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            raise ValueError(f"{value!r} is not a URL") from None
        if parts.scheme != "https":
            raise ValueError(f"{value!r} must be an https:// URL")
        if not parts.hostname or not port_ok or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a valid https URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("the endpoint must not carry credentials; keep them in a secret")
        return value

    @field_validator("deprecation_date", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{value!r} is not an ISO date; write it as YYYY-MM-DD")


def parse_provider_spec(document: Any, where: str) -> ProviderSpec:
    """Validate a parsed spec document.

    Raises:
        BadInput: a key is missing, unknown or invalid; the message names the file.
    """
    return validate(ProviderSpec, document, where)


def read_provider_spec(path: Path, *, where: str | None = None) -> ProviderSpec:
    """Read and validate a ``provider.yaml`` (strict YAML: no repeated keys).

    Raises:
        BadInput: the file is not YAML or the spec is invalid; the message names the file.
    """
    shown_as = where or path.name
    return parse_provider_spec(parse_yaml(read_text(path, shown_as), where=shown_as), shown_as)


def provider_spec_document(spec: ProviderSpec) -> dict[str, Any]:
    """The spec as a JSON-ready mapping (``deprecation_date`` as ISO text or null)."""
    return spec.model_dump(mode="json")


def provider_spec_digest(spec: ProviderSpec) -> str:
    """sha256 of the canonical JSON of the validated spec, tagged with its format."""
    return digest_of_document(provider_spec_document(spec), format_name=DIGEST_FORMAT)


def provider_facts(spec: ProviderSpec) -> dict[str, Any]:
    """Facts recorded for a provider model: the spec's keys plus its ``digest``."""
    return {**provider_spec_document(spec), "digest": provider_spec_digest(spec)}
