"""The registry's trust features, driven through the real ``registry`` CLI.

* Roles and separation of duties: every mutating command is allowed exactly for the roles
  ``DEFAULT_PERMISSIONS`` names (or ``policy.permissions`` tightens to); a requester never
  approves, with ``separate_registrant`` a registrant never approves, and scoped approvers
  approve only inside their workload or risk class. A refused command writes nothing.
* Signed approvals: a signature counts only when it is the approver's own key over the
  exact approval (request, digest, reason, time); forged, edited or replayed ones do not.
* Tamper evidence: an edit of any ledger column, a deleted or an inserted event, and a
  rehashed rewrite of history behind an anchor are all found by ``registry audit verify``.
* Review cycles: approvals older than ``review_every_days`` and evals older than
  ``max_eval_age_days`` are due, and an approval that old no longer counts.

The ledger tests run on SQLite and PostgreSQL; the rest on SQLite.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import raw_rows, raw_sql

from registry_pipeline.core.catalog import DEFAULT_PERMISSIONS, Operation, Role
from registry_pipeline.core.ledger import LedgerEvent, seal
from registry_pipeline.core.times import format_time
from registry_pipeline.errors import Refused
from registry_pipeline.service import Registry

pytestmark = pytest.mark.integration

CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "trust_catalog.yaml"

OWNER = "owner@example.com"
APPROVER = "approver@example.com"
APPROVER2 = "approver2@example.com"
ADMIN = "admin@example.com"
REGISTRAR = "svc@example.com"
STRANGER = "stranger@example.com"
CHAT_APPROVER = "chat-approver@example.com"
RISK_APPROVER = "risk-approver@example.com"

#: What each actor of the matrix is to chat-model under the trust catalog.
ROLES_OF: dict[str, frozenset[Role]] = {
    OWNER: frozenset({Role.OWNER}),
    APPROVER: frozenset({Role.APPROVER}),
    APPROVER2: frozenset({Role.APPROVER}),
    ADMIN: frozenset({Role.ADMIN}),
    REGISTRAR: frozenset({Role.REGISTRAR}),
    STRANGER: frozenset(),
}

#: Every mutating command and the operation of the policy that governs it.
COMMANDS: dict[str, Operation] = {
    "register": Operation.REGISTER,
    "eval ingest": Operation.EVIDENCE,
    "card --set": Operation.EVIDENCE,
    "promote": Operation.REQUEST,
    "approve": Operation.APPROVE,
    "reject": Operation.APPROVE,
    "apply": Operation.APPLY,
    "rollback": Operation.ROLLBACK,
    "init": Operation.CATALOG,
}

#: Tables a mutating command may write; a refused command leaves every count unchanged.
TABLES = (
    "catalogs",
    "entries",
    "versions",
    "lineage",
    "evals",
    "cards",
    "requests",
    "approvals",
    "gate_results",
    "stage_assignments",
    "ledger",
)

Result = Any  # tests/conftest.py's Result: code, stdout, stderr, json()
RunCli = Callable[..., Result]


# -- helpers -------------------------------------------------------------------------------


def ok(result: Result) -> Result:
    """Assert the run succeeded; show its output when it did not."""
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def refused(result: Result, code: int = 5) -> str:
    """Assert the run failed with ``code`` and exactly one ``error:`` line; return it."""
    assert result.code == code, (
        f"expected exit {code}, got {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def without_addresses(line: str) -> str:
    """``line`` without e-mail addresses, so ``admin@example.com`` does not name a role."""
    return re.sub(r"\S+@\S+", "", line)


def catalog_file(tmp_path: Path, name: str = "catalog.yaml", **policy: Any) -> Path:
    """The trust catalog with ``policy`` keys replaced, written to ``tmp_path``."""
    document = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    document["policy"].update(policy)
    path = tmp_path / "catalogs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def source(tmp_path: Path, label: str) -> Path:
    """A one-file folder whose content is ``label`` (distinct labels, distinct digests)."""
    folder = tmp_path / "src" / label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.bin").write_text(f"{label}\n", encoding="utf-8")
    return folder


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def as_(url: str, actor: str) -> Registry:
    return Registry.open(url, actor=actor)


def estate(url: str, tmp_path: Path, catalog: Path = CATALOG) -> None:
    """Load ``catalog`` (as the admin) and register chat-evals@1 (by its owner) and
    chat-model@1 (by the registrar service account)."""
    Registry.init(url, catalog=catalog, actor=ADMIN)
    as_(url, OWNER).register("chat-evals", source(tmp_path, "chat-evals-1"))
    as_(url, REGISTRAR).register("chat-model", source(tmp_path, "chat-model-1"))


def open_request(url: str, ref: str, to: str = "staging", *, by: str = REGISTRAR) -> int:
    return as_(url, by).request_promotion(ref, to=to, reason=f"ready for {to}").id


def open_request_cli(run_cli: RunCli, ref: str, *, actor: str = REGISTRAR) -> int:
    """``registry promote REF --to staging``; returns the request id it prints."""
    result = ok(run_cli("promote", ref, "--to", "staging", "--reason", "ready", actor=actor))
    assert "opened" in result.stderr
    return int(result.stdout.strip())


def promote_to(url: str, ref: str, stage: str, *, approver: str = APPROVER2) -> int:
    """Request (registrar), approve (``approver``) and apply (registrar) one promotion."""
    request = open_request(url, ref, stage)
    as_(url, approver).approve(request, reason="reviewed")
    as_(url, REGISTRAR).apply(request)
    return request


def passing_evals(url: str, ref: str) -> None:
    as_(url, OWNER).ingest_evals(ref, {"accuracy": 0.9}, suite="chat-evals@1")


def smuggle_approval(url: str, request: int, approver: str) -> None:
    """Insert an approval behind the registry's back, for the request's own digest."""
    raw_sql(
        url,
        "INSERT INTO approvals (request_id, approver, decision, reason, digest, signature, "
        "created_at) VALUES (:request, :approver, 'approve', 'smuggled in', "
        "(SELECT digest FROM requests WHERE id = :request), NULL, :at)",
        request=request,
        approver=approver,
        at=format_time(datetime.now(UTC)),
    )


def table_counts(url: str) -> dict[str, int]:
    return {t: int(raw_rows(url, f"SELECT count(*) FROM {t}")[0][0]) for t in TABLES}


def ledger_events(run_cli: RunCli) -> int:
    """The number of ledger events, as ``registry audit verify --json`` counts them."""
    data = ok(run_cli("audit", "verify", json=True)).json()
    assert data["ok"] is True, data
    return int(data["events"])


def verified_events(url: str) -> int:
    """The same count through the service (no subprocess: for the checks of a setup)."""
    data = Registry.open(url).verify().to_dict()
    assert data["ok"] is True, data
    return int(data["events"])


def gates(run_cli: RunCli, request: int) -> dict[str, dict[str, Any]]:
    """``registry gates REQUEST --json`` by gate name."""
    report = ok(run_cli("gates", str(request), json=True)).json()
    return {g["name"]: g for g in report["gates"]}


def approvals_pass(url: str, request: int) -> bool:
    """Whether the approvals gate passes now (through the service: a setup check)."""
    report = Registry.open(url).gates(request)
    return next(g.passed for g in report.gates if g.name == "approvals")


def stage_of(url: str, ref: str) -> str:
    return str(Registry.open(url).show(ref).to_dict()["stage"])


# -- roles and separation of duties ---------------------------------------------------------


def _prepare(command: str, url: str, tmp_path: Path) -> list[str]:
    """Bring a fresh registry to where ``command`` makes sense; return its arguments."""
    estate(url, tmp_path)
    if command == "register":
        return ["register", "chat-model", str(source(tmp_path, "chat-model-2"))]
    if command == "eval ingest":
        results = write_json(tmp_path / "results.json", {"metrics": {"accuracy": 0.91}})
        return ["eval", "ingest", "chat-model@1", str(results), "--suite", "chat-evals@1"]
    if command == "card --set":
        card = write_json(tmp_path / "card.json", {"intended_use": "chat", "limitations": "none"})
        return ["card", "chat-model@1", "--set", str(card)]
    if command == "promote":
        return ["promote", "chat-model@1", "--to", "staging", "--reason", "ready for staging"]
    if command in ("approve", "reject"):
        request = open_request(url, "chat-model@1")
        return [command, str(request), "--reason", "reviewed the evidence"]
    if command == "apply":
        request = open_request(url, "chat-model@1")
        as_(url, APPROVER2).approve(request, reason="reviewed")
        return ["apply", str(request)]
    if command == "rollback":
        promote_to(url, "chat-model@1", "staging")
        as_(url, REGISTRAR).register("chat-model", source(tmp_path, "chat-model-2"))
        promote_to(url, "chat-model@2", "staging")
        return ["rollback", "chat-model", "--stage", "staging", "--reason", "v2 regressed"]
    assert command == "init"
    document = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    document["entries"]["chat-model"]["description"] = "changed by whoever runs init"
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return ["init", "--catalog", str(changed)]


@pytest.mark.parametrize("actor", list(ROLES_OF), ids=lambda a: a.split("@")[0])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_mutating_command_is_allowed_exactly_for_the_roles_the_default_permissions_name(
    run_cli: RunCli, db_url: str, tmp_path: Path, command: str, actor: str
) -> None:
    args = _prepare(command, db_url, tmp_path)
    needed = DEFAULT_PERMISSIONS[COMMANDS[command]]
    before = table_counts(db_url)
    result = run_cli(*args, actor=actor)
    if ROLES_OF[actor] & needed:
        ok(result)
        assert table_counts(db_url)["ledger"] == before["ledger"] + 1
        return
    line = refused(result, code=5)
    assert actor in line
    assert verified_events(db_url) == before["ledger"]
    assert table_counts(db_url) == before
    unnamed = [str(role) for role in sorted(needed) if str(role) not in without_addresses(line)]
    assert not unnamed, f"the refusal does not name the needed role(s) {unnamed}: {line}"


def test_a_requester_cannot_approve_their_own_request_and_a_smuggled_self_approval_does_not_count(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    estate(db_url, tmp_path)
    request = open_request(db_url, "chat-model@1", by=APPROVER)
    before = verified_events(db_url)
    line = refused(run_cli("approve", str(request), "--reason", "lgtm", actor=APPROVER))
    assert f"{APPROVER} requested chat-model@1 -> staging and cannot approve it" in line
    assert ledger_events(run_cli) == before

    smuggle_approval(db_url, request, APPROVER)
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    assert approvals["detail"].startswith("0 of 1 approval;")
    assert f"{APPROVER} requested it and cannot approve it" in approvals["detail"]
    line = refused(run_cli("apply", str(request), actor=REGISTRAR))
    assert "approvals: 0 of 1 approval" in line
    assert stage_of(db_url, "chat-model@1") == "candidate"


@pytest.mark.parametrize("separate", [True, False], ids=["separate", "not-separate"])
def test_with_separate_registrant_the_registrant_cannot_approve_and_their_approval_does_not_count(
    run_cli: RunCli, db_url: str, tmp_path: Path, separate: bool
) -> None:
    catalog = catalog_file(tmp_path, separate_registrant=separate)
    Registry.init(db_url, catalog=catalog, actor=ADMIN)
    as_(db_url, APPROVER).register("chat-model", source(tmp_path, "chat-model-1"))
    request = open_request(db_url, "chat-model@1", by=OWNER)
    before = verified_events(db_url)
    result = run_cli("approve", str(request), "--reason", "lgtm", actor=APPROVER)
    if not separate:
        # Without the policy switch a registrant who is an approver may approve.
        ok(result)
        assert approvals_pass(db_url, request) is True
        return
    line = refused(result)
    assert (
        f"{APPROVER} registered chat-model@1 and cannot approve it (policy.separate_registrant)"
        in line
    )
    assert ledger_events(run_cli) == before

    smuggle_approval(db_url, request, APPROVER)
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    assert approvals["detail"].startswith("0 of 1 approval;")
    assert f"{APPROVER} registered this version and cannot approve it" in approvals["detail"]
    assert "approvals: 0 of 1 approval" in refused(run_cli("apply", str(request), actor=OWNER))

    ok(run_cli("approve", str(request), "--reason", "reviewed", actor=APPROVER2))
    ok(run_cli("apply", str(request), actor=OWNER))
    assert stage_of(db_url, "chat-model@1") == "staging"


@pytest.mark.parametrize(
    ("approver", "entry", "in_scope"),
    [
        (CHAT_APPROVER, "chat-model", True),
        (CHAT_APPROVER, "faq-model", False),
        (RISK_APPROVER, "faq-model", True),
        (RISK_APPROVER, "chat-model", False),
    ],
    ids=[
        "workload-approver-on-its-workload",
        "workload-approver-on-another-workload",
        "risk-approver-on-its-risk-class",
        "risk-approver-on-another-risk-class",
    ],
)
def test_scoped_approvers_approve_only_entries_inside_their_scope(
    run_cli: RunCli, db_url: str, tmp_path: Path, approver: str, entry: str, in_scope: bool
) -> None:
    estate(db_url, tmp_path)
    as_(db_url, REGISTRAR).register("faq-model", source(tmp_path, "faq-model-1"))
    request = open_request(db_url, f"{entry}@1")
    before = verified_events(db_url)
    result = run_cli("approve", str(request), "--reason", "in my remit", actor=approver)
    if in_scope:
        ok(result)
        approvals = gates(run_cli, request)["approvals"]
        assert approvals["passed"] is True
        assert approvals["detail"] == f"1 of 1 approval ({approver})"
        ok(run_cli("apply", str(request), actor=REGISTRAR))
        assert stage_of(db_url, f"{entry}@1") == "staging"
        return
    line = refused(result)
    assert approver in line
    assert entry in line
    assert "approver" in without_addresses(line)
    assert ledger_events(run_cli) == before

    smuggle_approval(db_url, request, approver)
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    assert f"{approver} is not an approver of {entry}" in approvals["detail"]


def test_policy_permissions_can_tighten_register_to_owners_only(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    catalog = catalog_file(tmp_path, permissions={"register": ["owner"]})
    Registry.init(db_url, catalog=catalog, actor=ADMIN)
    before = table_counts(db_url)
    for actor, held in ((APPROVER, "approver"), (REGISTRAR, "registrar")):
        line = refused(
            run_cli("register", "chat-model", str(source(tmp_path, f"by-{actor}")), actor=actor)
        )
        assert (
            f"{actor} may not register for chat-model: that needs owner "
            f"(policy.permissions.register); {actor} is {held}"
        ) in line
    assert ledger_events(run_cli) == before["ledger"]
    assert table_counts(db_url) == before
    registered = ok(
        run_cli("register", "chat-model", str(source(tmp_path, "by-owner")), actor=OWNER, json=True)
    ).json()
    assert (registered["entry"], registered["version"]) == ("chat-model", 1)


def test_a_refusal_names_the_catalog_key_that_grants_it_and_adding_it_works(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    estate(db_url, tmp_path)
    line = refused(run_cli("register", "chat-model", str(source(tmp_path, "s")), actor=STRANGER))
    assert line.endswith(
        f"; to grant it, add {STRANGER} to policy.registrars, policy.approvers or "
        f"policy.admins, or make {STRANGER} the owner (entries.chat-model.owner, now {OWNER})"
    )
    request = open_request(db_url, "chat-model@1")
    line = refused(run_cli("approve", str(request), "--reason", "lgtm", actor=OWNER))
    assert line.endswith(
        f"{OWNER} is owner; to grant it, add {OWNER} to policy.approvers, "
        "policy.approvers_by_workload.chat, policy.approvers_by_risk_class.limited or "
        "policy.admins"
    )
    widened = catalog_file(tmp_path, registrars=[REGISTRAR, STRANGER])
    Registry.init(db_url, catalog=widened, actor=ADMIN)
    registered = ok(
        run_cli("register", "chat-model", str(source(tmp_path, "s")), actor=STRANGER, json=True)
    ).json()
    assert (registered["entry"], registered["version"]) == ("chat-model", 2)


def test_owner_only_permissions_point_at_the_owner_key(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    Registry.init(db_url, catalog=catalog_file(tmp_path, permissions={"register": ["owner"]}))
    line = refused(run_cli("register", "chat-model", str(source(tmp_path, "s")), actor=ADMIN))
    assert line.endswith(
        f"{ADMIN} is admin; to grant it, make {ADMIN} the owner "
        f"(entries.chat-model.owner, now {OWNER})"
    )


def test_policy_permissions_can_tighten_approve_to_admins_and_the_refusal_names_that_role(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    estate(db_url, tmp_path, catalog_file(tmp_path, permissions={"approve": ["admin"]}))
    request = open_request(db_url, "chat-model@1")
    before = verified_events(db_url)
    line = refused(run_cli("approve", str(request), "--reason", "lgtm", actor=APPROVER))
    assert APPROVER in line
    assert ledger_events(run_cli) == before
    ok(run_cli("approve", str(request), "--reason", "reviewed", actor=ADMIN))
    assert gates(run_cli, request)["approvals"]["detail"] == f"1 of 1 approval ({ADMIN})"
    # The approver *is* an approver; what they lack is the admin role the policy requires.
    assert "admin" in without_addresses(line), line


# -- signed approvals -----------------------------------------------------------------------


@pytest.fixture
def keys(run_cli: RunCli, db_url: str, tmp_path: Path) -> dict[str, Path]:
    """Keys for both global approvers (made with `registry keys generate`), and a registry
    whose policy needs one signed approval for staging and knows both public keys."""
    private: dict[str, Path] = {}
    public: dict[str, str] = {}
    for who in (APPROVER, APPROVER2):
        path = tmp_path / "keys" / f"{who.split('@')[0]}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        result = ok(run_cli("keys", "generate", "--out", str(path), actor=who))
        assert "private key written" in result.stderr
        private[who], public[who] = path, result.stdout.strip()
    assert public[APPROVER] != public[APPROVER2]
    stages = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["policy"]["stages"]
    stages["staging"] = {"approvals": 1, "signed_approvals": True}
    estate(db_url, tmp_path, catalog_file(tmp_path, approver_keys=public, stages=stages))
    return private


def test_a_signed_approval_with_the_approvers_own_key_counts_and_an_unsigned_one_does_not(
    run_cli: RunCli, db_url: str, keys: dict[str, Path]
) -> None:
    request = open_request_cli(run_cli, "chat-model@1")
    unsigned = refused(run_cli("approve", str(request), "--reason", "fine", actor=APPROVER2))
    assert "needs signed approvals and this one is unsigned" in unsigned
    assert "--key" in unsigned
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    assert approvals["detail"] == "0 of 1 signed approval"

    signed = ok(
        run_cli(
            "approve",
            str(request),
            "--reason",
            "reviewed",
            "--key",
            str(keys[APPROVER]),
            actor=APPROVER,
        )
    )
    assert signed.stdout.strip() == f"request {request} approved by {APPROVER} (signed)"
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is True
    assert approvals["detail"].startswith(f"1 of 1 signed approval ({APPROVER})")
    ok(run_cli("apply", str(request), actor=REGISTRAR))
    assert stage_of(db_url, "chat-model@1") == "staging"


def test_an_approval_signed_with_another_approvers_key_does_not_count(
    run_cli: RunCli, db_url: str, keys: dict[str, Path]
) -> None:
    request = open_request_cli(run_cli, "chat-model@1")
    line = refused(
        run_cli(
            "approve",
            str(request),
            "--reason",
            "lgtm",
            "--key",
            str(keys[APPROVER2]),
            actor=APPROVER,
        )
    )
    assert f"policy.approver_keys has another key for {APPROVER}" in line
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    assert approvals["detail"] == "0 of 1 signed approval"
    line = refused(run_cli("apply", str(request), actor=REGISTRAR))
    assert "approvals: 0 of 1 signed approval" in line
    assert stage_of(db_url, "chat-model@1") == "candidate"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reason", "rubber-stamped without reading"),
        ("created_at", "2099-01-01T00:00:00.000000Z"),
        ("approver", APPROVER2),
    ],
)
def test_editing_a_stored_signed_approval_voids_its_signature(
    run_cli: RunCli, db_url: str, keys: dict[str, Path], column: str, value: str
) -> None:
    request = open_request_cli(run_cli, "chat-model@1")
    ok(
        run_cli(
            "approve",
            str(request),
            "--reason",
            "reviewed",
            "--key",
            str(keys[APPROVER]),
            actor=APPROVER,
        )
    )
    assert approvals_pass(db_url, request) is True
    raw_sql(
        db_url,
        f"UPDATE approvals SET {column} = :value WHERE request_id = :request",
        value=value,
        request=request,
    )
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    who = APPROVER2 if column == "approver" else APPROVER
    assert f"{who}'s approval is wrongly signed" in approvals["detail"]
    assert "wrongly signed" in refused(run_cli("apply", str(request), actor=REGISTRAR))
    assert stage_of(db_url, "chat-model@1") == "candidate"


@pytest.mark.parametrize("copied", ["signature", "whole-signed-approval"])
def test_a_valid_signature_replayed_onto_another_requests_approval_does_not_count(
    run_cli: RunCli, db_url: str, tmp_path: Path, keys: dict[str, Path], copied: str
) -> None:
    as_(db_url, REGISTRAR).register("chat-model", source(tmp_path, "chat-model-2"))
    signed_request = open_request_cli(run_cli, "chat-model@1")
    other_request = open_request_cli(run_cli, "chat-model@2")
    ok(
        run_cli(
            "approve",
            str(signed_request),
            "--reason",
            "reviewed v1",
            "--key",
            str(keys[APPROVER]),
            actor=APPROVER,
        )
    )
    ok(
        run_cli(
            "approve",
            str(other_request),
            "--reason",
            "reviewed v2",
            "--key",
            str(keys[APPROVER]),
            actor=APPROVER,
        )
    )
    assert approvals_pass(db_url, signed_request) is True

    [(signature, reason, created_at, digest)] = raw_rows(
        db_url,
        "SELECT signature, reason, created_at, digest FROM approvals "
        f"WHERE request_id = {signed_request}",
    )
    if copied == "signature":
        raw_sql(
            db_url,
            "UPDATE approvals SET signature = :signature WHERE request_id = :request",
            signature=signature,
            request=other_request,
        )
        note = f"{APPROVER}'s approval is wrongly signed"
    else:
        # Everything the signature covers that lives in the approval row: v1's digest.
        raw_sql(
            db_url,
            "UPDATE approvals SET signature = :signature, reason = :reason, "
            "created_at = :created_at, digest = :digest WHERE request_id = :request",
            signature=signature,
            reason=reason,
            created_at=created_at,
            digest=digest,
            request=other_request,
        )
        note = f"{APPROVER} approved other content (digest changed)"
    approvals = gates(run_cli, other_request)["approvals"]
    assert approvals["passed"] is False
    assert approvals["detail"] == f"0 of 1 signed approval; not counted: {note}"
    assert "approvals: 0 of 1 signed approval" in refused(
        run_cli("apply", str(other_request), actor=REGISTRAR)
    )
    assert stage_of(db_url, "chat-model@2") == "candidate"
    ok(run_cli("apply", str(signed_request), actor=REGISTRAR))
    assert stage_of(db_url, "chat-model@1") == "staging"


def test_content_changed_after_a_signed_approval_cannot_ride_on_it(
    run_cli: RunCli, db_url: str, keys: dict[str, Path]
) -> None:
    request = open_request_cli(run_cli, "chat-model@1")
    ok(
        run_cli(
            "approve",
            str(request),
            "--reason",
            "reviewed",
            "--key",
            str(keys[APPROVER]),
            actor=APPROVER,
        )
    )
    assert approvals_pass(db_url, request) is True
    # The version and its request now name other content; the approval still names the old.
    swapped = "5" * 64
    raw_sql(
        db_url,
        "UPDATE versions SET digest = :digest WHERE entry = 'chat-model' AND number = 1",
        "UPDATE requests SET digest = :digest WHERE id = :request",
        digest=swapped,
        request=request,
    )
    report = gates(run_cli, request)
    assert report["request_open"]["passed"] is True
    assert report["approvals"]["passed"] is False
    assert report["approvals"]["detail"] == (
        f"0 of 1 signed approval; not counted: {APPROVER} approved other content (digest changed)"
    )
    assert "approved other content" in refused(run_cli("apply", str(request), actor=REGISTRAR))
    assert stage_of(db_url, "chat-model@1") == "candidate"


# -- tamper evidence (SQLite and PostgreSQL) ------------------------------------------------

LEDGER_ROWS = (
    "SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash, auth FROM ledger"
)


def build_history(url: str, tmp_path: Path) -> int:
    """Registrations, evals, a card, two promotions to staging and a rollback; returns the
    number of ledger events."""
    estate(url, tmp_path)
    passing_evals(url, "chat-model@1")
    as_(url, OWNER).set_card("chat-model@1", {"intended_use": "chat", "limitations": "English"})
    promote_to(url, "chat-model@1", "staging")
    as_(url, REGISTRAR).register("chat-model", source(tmp_path, "chat-model-2"))
    passing_evals(url, "chat-model@2")
    promote_to(url, "chat-model@2", "staging")
    as_(url, OWNER).rollback("chat-model", stage="staging", reason="v2 regressed")
    return int(raw_rows(url, "SELECT count(*) FROM ledger")[0][0])


def reseal_from(url: str, seq: int, *, actor: str) -> str:
    """Rewrite the actor of event ``seq`` and recompute every hash from there on, as a
    forger with database access would; move the recorded head and rebuild the Merkle tree
    too (only a checkpoint kept outside catches that). Returns the new head."""
    rows = raw_rows(url, f"{LEDGER_ROWS} ORDER BY seq")
    prev = None
    for row in rows:
        event = LedgerEvent(
            seq=row[0],
            recorded_at=row[1],
            actor=row[2],
            action=row[3],
            subject=row[4],
            payload=json.loads(row[5]),
            prev_hash=row[6],
            hash=row[7],
            auth=json.loads(row[8]) if row[8] is not None else None,
        )
        if event.seq < seq:
            prev = event.hash
            continue
        fields = {
            "seq": event.seq,
            "recorded_at": event.recorded_at,
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "payload": event.payload,
            **({"actor": actor} if event.seq == seq else {}),
        }
        forged = seal(LedgerEvent(**fields, prev_hash=prev, auth=event.auth))
        raw_sql(
            url,
            "UPDATE ledger SET actor = :actor, prev_hash = :prev_hash, hash = :hash "
            "WHERE seq = :seq",
            actor=forged.actor,
            prev_hash=forged.prev_hash,
            hash=forged.hash,
            seq=forged.seq,
        )
        prev = forged.hash
    raw_sql(url, "UPDATE ledger_head SET hash = :hash WHERE id = 1", hash=prev)
    assert prev is not None
    rebuild_tree(url)
    return prev


def rebuild_tree(url: str) -> None:
    """Rebuild the ledger's Merkle tree over the events as they now stand."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from registry_pipeline.store import merkle

    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        hashes = conn.execute(text("SELECT hash FROM ledger ORDER BY seq")).scalars()
        merkle.rebuild(conn, list(hashes))
    engine.dispose()


class TestLedgerTamperingIsDetected:
    """Every test here runs on SQLite and on PostgreSQL."""

    @pytest.fixture
    def db_url(self, store_url: str) -> str:
        return store_url

    @pytest.fixture
    def events(self, db_url: str, tmp_path: Path) -> int:
        count = build_history(db_url, tmp_path)
        assert count >= 12
        assert verified_events(db_url) == count
        return count

    @pytest.mark.parametrize(
        ("column", "expression", "value"),
        [
            ("seq", "seq + :value", 1000),
            ("recorded_at", ":value", "2020-01-01T00:00:00.000000Z"),
            ("actor", ":value", "mallory@example.com"),
            ("action", "action || :value", ".forged"),
            ("subject", "subject || :value", "-forged"),
            ("payload", ":value", '{"forged":true}'),
            ("prev_hash", ":value", "ab" * 32),
            ("hash", ":value", "cd" * 32),
        ],
    )
    def test_an_update_of_any_column_of_a_middle_event_is_found_at_that_event(
        self,
        run_cli: RunCli,
        db_url: str,
        events: int,
        column: str,
        expression: str,
        value: Any,
    ) -> None:
        middle = events // 2
        raw_sql(
            db_url,
            f"UPDATE ledger SET {column} = {expression} WHERE seq = :seq",
            value=value,
            seq=middle,
        )
        result = run_cli("audit", "verify", json=True)
        line = refused(result, code=4)
        if column == "seq":
            # The sequence breaks where the moved event is missing.
            expected = (
                f"ledger broken at event {middle + 1}: expected event {middle} "
                f"but found {middle + 1}"
            )
        elif column == "prev_hash":
            expected = f"ledger broken at event {middle}: its prev_hash does not match"
        else:
            expected = f"ledger broken at event {middle}: its content does not match its hash"
        assert expected in line
        data = result.json()
        assert (data["ok"], data["broken_at"]) == (False, middle + 1 if column == "seq" else middle)

    def test_a_deleted_middle_event_is_found_where_the_sequence_breaks(
        self, run_cli: RunCli, db_url: str, events: int
    ) -> None:
        middle = events // 2
        raw_sql(db_url, "DELETE FROM ledger WHERE seq = :seq", seq=middle)
        line = refused(run_cli("audit", "verify"), code=4)
        assert (
            f"ledger broken at event {middle + 1}: expected event {middle} but found "
            f"{middle + 1} (an event was deleted or inserted)"
        ) in line

    def test_a_forged_event_inserted_in_the_middle_is_found_at_the_event_after_it(
        self, run_cli: RunCli, db_url: str, events: int
    ) -> None:
        middle = events // 2
        [(previous_hash,)] = raw_rows(db_url, f"SELECT hash FROM ledger WHERE seq = {middle - 1}")
        # Make room by shifting every later event up one (in two steps: seq is a key).
        raw_sql(
            db_url,
            "UPDATE ledger SET seq = seq + 100000 WHERE seq >= :seq",
            "UPDATE ledger SET seq = seq - 99999 WHERE seq >= 100000",
            seq=middle,
        )
        forged = seal(
            LedgerEvent(
                seq=middle,
                recorded_at=format_time(datetime.now(UTC)),
                actor=APPROVER,
                action="promotion.approve",
                subject="request:99",
                payload={"request": 99, "approver": APPROVER, "decision": "approve"},
                prev_hash=previous_hash,
            )
        )
        raw_sql(
            db_url,
            "INSERT INTO ledger (seq, recorded_at, actor, action, subject, payload, prev_hash, "
            "hash) VALUES (:seq, :recorded_at, :actor, :action, :subject, :payload, :prev_hash, "
            ":hash)",
            seq=forged.seq,
            recorded_at=forged.recorded_at,
            actor=forged.actor,
            action=forged.action,
            subject=forged.subject,
            payload=json.dumps(dict(forged.payload), sort_keys=True, separators=(",", ":")),
            prev_hash=forged.prev_hash,
            hash=forged.hash,
        )
        line = refused(run_cli("audit", "verify"), code=4)
        assert f"ledger broken at event {middle + 1}: its prev_hash does not match" in line

    def test_history_rewritten_and_rehashed_after_an_anchor_is_found_only_with_the_anchor(
        self, run_cli: RunCli, db_url: str, tmp_path: Path, events: int
    ) -> None:
        anchor = ok(run_cli("audit", "anchor")).stdout.strip()
        head = Registry.open(db_url).ledger_head().to_dict()["hash"]
        assert anchor == f"{events}:{head}"
        ok(run_cli("audit", "verify", "--anchor", anchor))
        # Life goes on after the anchor was taken and kept outside the registry.
        as_(db_url, REGISTRAR).register("faq-model", source(tmp_path, "faq-model-1"))

        # Event 3 registered chat-model@1 as the registrar; claim someone else did it.
        [(actor,)] = raw_rows(db_url, "SELECT actor FROM ledger WHERE seq = 3")
        assert actor == REGISTRAR
        new_head = reseal_from(db_url, 3, actor="mallory@example.com")

        plain = ok(run_cli("audit", "verify"))
        assert plain.stdout.strip() == f"ledger ok: {events + 1} events, head {new_head}"
        line = refused(run_cli("audit", "verify", "--anchor", anchor), code=4)
        assert (
            f"ledger broken at event {events}: the anchor {head[:12]} (event {events}) is not "
            "in the chain: history up to the anchor was rewritten"
        ) in line


# -- review cycles ---------------------------------------------------------------------------


def in_production(url: str, tmp_path: Path) -> int:
    """chat-model@1 in production with fresh passing evals; returns the production request."""
    estate(url, tmp_path)
    passing_evals(url, "chat-model@1")
    promote_to(url, "chat-model@1", "staging")
    return promote_to(url, "chat-model@1", "production")


def days_ago(days: int) -> str:
    return format_time(datetime.now(UTC) - timedelta(days=days, hours=1))


def test_an_approval_older_than_review_every_days_is_due_and_no_longer_counts(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    production = in_production(db_url, tmp_path)
    assert ok(run_cli("review", "due")).stdout.strip() == "nothing is due for review"
    assert ok(run_cli("review", "due", json=True)).json() == {"due": []}

    old = days_ago(40)
    raw_sql(
        db_url,
        "UPDATE approvals SET created_at = :at WHERE request_id = :request",
        "UPDATE stage_assignments SET effective_from = :at WHERE entry = 'chat-model' "
        "AND stage = 'production' AND effective_to IS NULL",
        at=old,
        request=production,
    )
    due = ok(run_cli("review", "due", json=True)).json()["due"]
    assert [(d["entry"], d["version"], d["what"]) for d in due] == [("chat-model", 1, "approval")]
    assert 40 <= due[0]["age_days"] <= 41.5
    assert due[0]["limit_days"] == 30
    assert due[0]["since"] == old
    text = ok(run_cli("review", "due")).stdout
    assert re.search(r"^chat-model\s+v1\s+approval\s+40\.\d\s+30\s", text, re.MULTILINE), text

    # A new promotion cannot rest on an approval that old either.
    as_(db_url, REGISTRAR).register("chat-model", source(tmp_path, "chat-model-2"))
    passing_evals(db_url, "chat-model@2")
    promote_to(db_url, "chat-model@2", "staging")
    request = open_request(db_url, "chat-model@2", "production")
    ok(run_cli("approve", str(request), "--reason", "reviewed", actor=APPROVER))
    assert approvals_pass(db_url, request) is True
    raw_sql(
        db_url,
        "UPDATE approvals SET created_at = :at WHERE request_id = :request",
        at=old,
        request=request,
    )
    approvals = gates(run_cli, request)["approvals"]
    assert approvals["passed"] is False
    assert approvals["detail"] == (
        f"0 of 1 approval; not counted: {APPROVER}'s approval is 40 days old (valid 30); "
        "approve again"
    )
    line = refused(run_cli("apply", str(request), actor=REGISTRAR))
    assert "40 days old (valid 30)" in line
    assert stage_of(db_url, "chat-model@2") == "staging"


@pytest.mark.parametrize(("days", "due"), [(31, True), (29, False)], ids=["31-days", "29-days"])
def test_review_due_and_the_inventory_agree_on_how_old_an_approval_is(
    run_cli: RunCli, db_url: str, tmp_path: Path, days: int, due: bool
) -> None:
    production = in_production(db_url, tmp_path)
    # Only the approval ages: the version took production just now.
    raw_sql(
        db_url,
        "UPDATE approvals SET created_at = :at WHERE request_id = :request",
        at=days_ago(days),
        request=production,
    )
    listed = [
        (d["entry"], d["version"])
        for d in ok(run_cli("review", "due", json=True)).json()["due"]
        if d["what"] == "approval"
    ]
    rows = ok(
        run_cli("sql", "SELECT entry, version FROM approvals_due_for_review", json=True)
    ).json()["rows"]
    assert listed == [tuple(r) for r in rows] == ([("chat-model", 1)] if due else [])


def test_production_evals_older_than_max_eval_age_days_are_due(
    run_cli: RunCli, db_url: str, tmp_path: Path
) -> None:
    in_production(db_url, tmp_path)
    assert ok(run_cli("review", "due", json=True)).json() == {"due": []}
    old = days_ago(45)
    raw_sql(
        db_url,
        "UPDATE evals SET produced_at = :at WHERE entry = 'chat-model' AND number = 1",
        at=old,
    )
    due = ok(run_cli("review", "due", json=True)).json()["due"]
    assert [(d["entry"], d["version"], d["what"]) for d in due] == [("chat-model", 1, "evals")]
    assert 45 <= due[0]["age_days"] <= 46.5
    assert due[0]["limit_days"] == 30
    assert due[0]["since"] == old


def test_a_detached_signature_over_the_document_to_sign_counts_and_a_stale_one_does_not(
    run_cli: RunCli, db_url: str, keys: dict[str, Path]
) -> None:
    """What a client holding the key (or a person pasting a signature) does: ask for the
    document, sign its ``message`` elsewhere, send signature and ``signed_at`` back."""
    from registry_pipeline import signatures
    from registry_pipeline.service.approvals import Signed

    request = open_request_cli(run_cli, "chat-model@1")
    approver = as_(db_url, APPROVER)
    document = approver.to_sign(request, reason="reviewed").to_dict()
    assert document["payload"]["approver"] == APPROVER
    assert json.loads(document["message"]) == document["payload"]
    key = signatures.load_private(keys[APPROVER])
    signature = base64.b64encode(key.sign(document["message"].encode())).decode()
    before = ledger_events(run_cli)

    stale_at = format_time(datetime.now(UTC) - timedelta(minutes=11))
    stale = dict(document["payload"], time=stale_at)
    with pytest.raises(Refused, match="ask for a new one"):
        approver.approve(
            request,
            reason="reviewed",
            signed=Signed(signatures.sign(key, stale), stale_at),
        )
    with pytest.raises(Refused, match="another key"):
        approver.approve(
            request, reason="a different reason", signed=Signed(signature, document["signed_at"])
        )
    assert ledger_events(run_cli) == before

    decided = approver.approve(
        request, reason="reviewed", signed=Signed(signature, document["signed_at"])
    )
    assert decided.signed is True
    assert approvals_pass(db_url, request)
    ok(run_cli("apply", str(request), actor=REGISTRAR))
    assert stage_of(db_url, "chat-model@1") == "staging"
