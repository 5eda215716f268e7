"""policy.identity: authenticated closes local mode: whoever can open the database can no
longer rewrite the policy or act as someone else; changes go through the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, raw_rows
from support.server import Estate, served_estate

pytestmark = pytest.mark.integration


def _catalog(path: Path, **policy: object) -> Path:
    document = yaml.safe_load(EXAMPLES.read_text())
    document["policy"].update(policy)
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    root = tmp_path_factory.mktemp("identity")
    closed = _catalog(root / "closed.yaml", identity="authenticated")
    with served_estate(root, then_catalog=closed) as running:
        yield running


def _cli(estate: Estate, *args: str, token: str | None = None) -> tuple[int, str, str]:
    """The real CLI: through the server with ``token``, else on the database itself."""
    return estate.cli(*args, token=token)


def test_local_mode_cannot_rewrite_the_policy_or_act(estate: Estate, tmp_path: Path) -> None:
    evil = _catalog(tmp_path / "evil.yaml", identity="local", admins=["mallory@example.com"])
    before = raw_rows(estate.database, "SELECT max(seq) FROM ledger")[0][0]
    code, _, err = _cli(estate, "--actor", "carol@example.com", "init", "--catalog", str(evil))
    assert code == 5
    assert err.startswith("error: policy.identity is authenticated")
    code, _, err = _cli(
        estate,
        "--actor",
        "alice@example.com",
        "promote",
        "support-bot@2",
        "--to",
        "staging",
        "--reason",
        "spoofed",
    )
    assert code == 5
    assert raw_rows(estate.database, "SELECT max(seq) FROM ledger")[0][0] == before


def test_the_operator_may_still_mint_tokens_locally(estate: Estate) -> None:
    code, out, err = _cli(
        estate, "--actor", "operator", "tokens", "create", "--principal", "erin@example.com"
    )
    assert code == 0, err
    assert out.startswith("rgp_")


def test_through_the_server_an_admin_changes_the_catalog_and_no_one_else(
    estate: Estate, tmp_path: Path
) -> None:
    changed = _catalog(
        tmp_path / "changed.yaml", identity="authenticated", separate_registrant=True
    )
    code, _, err = _cli(estate, "init", "--catalog", str(changed), token=estate.tokens["dave"])
    assert code == 5
    assert "may not change the catalog" in err
    code, out, err = _cli(estate, "init", "--catalog", str(changed), token=estate.tokens["carol"])
    assert code == 0, err
    assert "loaded" in out
    actor, auth = raw_rows(
        estate.database, "SELECT actor, auth FROM ledger ORDER BY seq DESC LIMIT 1"
    )[0]
    assert actor == "carol@example.com"
    assert '"method":"token"' in auth
    code, _, err = _cli(
        estate,
        "promote",
        "support-bot@2",
        "--to",
        "staging",
        "--reason",
        "through the server",
        token=estate.tokens["alice"],
    )
    assert code == 0, err
