"""The registry's whole story, driven through the real ``registry`` CLI on a real SQLite file.

Register a base model, a dataset, a LoRA adapter and the rest of a support-bot stack; gate
it through staging and production; resolve what serves ``customer-support`` now and at past
instants; roll back; verify the hash-chained ledger, then tamper with it and watch it break.

Note on the fixture catalog: ``support-bot`` is declared ``limited``, but a stack is as risky
as its riskiest component, and ``support-lora`` is ``high``. So promoting the stack to
production needs two *signed* approvals; the story generates Ed25519 keys and loads a
catalog that adds them under ``policy.approver_keys`` (as the admin, carol).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import raw_rows, raw_sql

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


@pytest.fixture(params=["local", "server"])
def run_cli(
    request: pytest.FixtureRequest, run_cli: RunCli, db_url: str, tmp_path: Path
) -> Iterator[RunCli]:
    """Every test here runs on the database itself (``--actor``) and through a real
    ``registry serve`` (``REGISTRY_URL`` and a token per person; no ``--actor``)."""
    if request.param == "local":
        yield run_cli
        return
    from support.server import served_cli

    with served_cli(db_url, tmp_path) as through_server:
        yield through_server


CATALOG = Path(__file__).resolve().parents[1] / "fixtures" / "catalog.yaml"

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
GATE_NAMES = {
    "request_open",
    "stage_transition",
    "approvals",
    "evals",
    "model_card",
    "license",
    "ab_test",
}
STACK_COMPONENTS = {"support-lora", "support-prompt", "bge-small", "kb-index", "support-evals"}
CARD = {
    "intended_use": "Answer customer questions from the knowledge base",
    "limitations": ["English only", "No legal or billing advice"],
    "training_data": "support-tickets-2026q3, resolved tickets July to September 2026",
}

Result = Any  # tests/conftest.py's Result: code, stdout, stderr, json()
RunCli = Callable[..., Result]
Artifacts = Callable[[str, dict[str, bytes]], Path]


# -- helpers -------------------------------------------------------------------------------


def ok(result: Result) -> Result:
    """Assert the run succeeded; show its output when it did not."""
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def refused(result: Result, code: int = 5) -> str:
    """Assert the run failed with ``code`` and one ``error:`` line; return that line."""
    assert result.code == code, (
        f"expected exit {code}, got {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        json.dumps(document)
        if path.suffix == ".json"
        else yaml.safe_dump(document, sort_keys=False)
    )
    path.write_text(text, encoding="utf-8")
    return path


def register(run_cli: RunCli, *args: str, actor: str = ALICE) -> dict[str, Any]:
    """Register a version; return the ``--json`` document."""
    data = ok(run_cli("register", *args, actor=actor, json=True)).json()
    assert set(data) >= {"entry", "version", "digest", "created"}
    return data


def gate_map(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in report["gates"]}


def promote(run_cli: RunCli, ref: str, to: str, *, actor: str = ALICE) -> int:
    """Open a promotion request; return its id."""
    result = ok(run_cli("promote", ref, "--to", to, "--reason", f"ready for {to}", actor=actor))
    request = int(result.stdout.strip())
    assert f"request {request} opened" in result.stderr
    return request


def build_stack(run_cli: RunCli, artifacts: Artifacts, tmp_path: Path) -> dict[str, Any]:
    """Init the registry from the fixture catalog and register every component and
    support-bot@1. Returns the ``register --json`` documents by entry name."""
    ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL))
    out: dict[str, Any] = {}
    out["llama-3-8b-instruct"] = register(
        run_cli,
        "llama-3-8b-instruct",
        str(
            artifacts(
                "llama",
                {
                    "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
                    "weights-00001.bin": b"\x00base-weights-1",
                },
            )
        ),
    )
    out["support-tickets-2026q3"] = register(
        run_cli,
        "support-tickets-2026q3",
        str(
            artifacts(
                "tickets",
                {
                    "train.jsonl": b'{"q": "reset password?", "a": "Use the link."}\n',
                    "eval.jsonl": b'{"q": "refund?", "a": "Within 30 days."}\n',
                },
            )
        ),
    )
    config = write(
        tmp_path / "train.yaml",
        {"params": {"rank": 16, "alpha": 32, "learning_rate": 0.0002, "commit": "abc123"}},
    )
    out["support-lora"] = register(
        run_cli,
        "support-lora",
        str(artifacts("lora", {"adapter_weights.bin": b"lora-1", "adapter.json": b"{}"})),
        "--upstream",
        "llama-3-8b-instruct@1",
        "--upstream",
        "support-tickets-2026q3@1",
        "--config",
        str(config),
    )
    out["support-prompt"] = register(
        run_cli,
        "support-prompt",
        str(artifacts("prompt-1", {"system.txt": b"You are a helpful support agent.\n"})),
    )
    out["bge-small"] = register(
        run_cli, "bge-small", str(artifacts("bge", {"model.onnx": b"bge-small-weights"}))
    )
    out["kb-index"] = register(
        run_cli,
        "kb-index",
        str(artifacts("kb", {"index.faiss": b"faiss-index", "docs.jsonl": b"{}\n"})),
        "--upstream",
        "bge-small@1",
    )
    out["support-evals"] = register(
        run_cli,
        "support-evals",
        str(artifacts("evals", {"cases.jsonl": b'{"input": "hi", "expected": "hello"}\n'})),
    )
    out["support-bot"] = register(
        run_cli,
        "support-bot",
        *[
            arg
            for name in sorted(STACK_COMPONENTS)
            for arg in ("--pin", f"{name}@{out[name]['version']}")
        ],
    )
    for name, data in out.items():
        assert data["created"] is True, name
        assert data["version"] == 1, name
    return out


def evidence(
    run_cli: RunCli, tmp_path: Path, ref: str, *, accuracy: float = 0.91, card: bool = True
) -> None:
    """Ingest support-evals@1 results and set the model card for ``ref``."""
    results = write(
        tmp_path / f"results-{ref}-{accuracy}.json", {"metrics": {"accuracy": accuracy}}
    )
    data = ok(
        run_cli("eval", "ingest", ref, str(results), "--suite", "support-evals@1", json=True)
    ).json()
    assert data["metrics"] == {"accuracy": accuracy}
    assert (data["suite"], data["suite_version"]) == ("support-evals", 1)
    if card:
        card_file = write(tmp_path / f"card-{ref}.yaml", CARD)
        shown = ok(run_cli("card", ref, "--set", str(card_file), json=True)).json()
        assert shown["card"]["limitations"] == CARD["limitations"]


def to_staging(run_cli: RunCli, ref: str) -> int:
    """Promote ``ref`` to staging: alice asks, bob approves, alice applies."""
    request = promote(run_cli, ref, "staging", actor=ALICE)
    ok(run_cli("approve", str(request), "--reason", "staging looks fine", actor=BOB))
    change = ok(run_cli("apply", str(request), json=True)).json()
    assert change["stage"] == "staging"
    return request


def ledger_count(run_cli: RunCli) -> int:
    data = ok(run_cli("audit", "verify", json=True)).json()
    assert data["ok"] is True
    return int(data["events"])


# -- the story -----------------------------------------------------------------------------


def test_stack_goes_from_registration_through_gates_to_production_rollback_and_audit(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path, db_url: str
) -> None:
    # Catalog, then every component and the stack, pinned exactly.
    out = build_stack(run_cli, artifacts, tmp_path)
    shown_lora = ok(run_cli("show", "support-lora@1", json=True)).json()
    assert shown_lora["kind"] == "lora_adapter"
    assert shown_lora["stage"] == "candidate"
    assert shown_lora["params"]["rank"] == 16
    assert shown_lora["created_by"] == ALICE
    assert shown_lora["digest"] == out["support-lora"]["digest"]

    # Lineage: the adapter remembers its base model and dataset.
    text = ok(run_cli("lineage", "support-lora@1")).stdout
    assert "llama-3-8b-instruct@1" in text
    assert "support-tickets-2026q3@1" in text
    tree = ok(run_cli("lineage", "support-lora@1", json=True)).json()
    upstream = {(u["entry"], u["version"]): u for u in tree["upstream"]}
    assert set(upstream) == {("llama-3-8b-instruct", 1), ("support-tickets-2026q3", 1)}
    assert upstream[("llama-3-8b-instruct", 1)]["kind"] == "base_model"
    assert upstream[("llama-3-8b-instruct", 1)]["digest"] == out["llama-3-8b-instruct"]["digest"]
    assert {(d["entry"], d["version"]) for d in tree["downstream"]} == {("support-bot", 1)}
    bot_tree = ok(run_cli("lineage", "support-bot@1", json=True)).json()
    lora_node = next(n for n in bot_tree["upstream"] if n["entry"] == "support-lora")
    assert "llama-3-8b-instruct" in {n["entry"] for n in lora_node["upstream"]}

    # Evidence: eval results and a model card on the stack version.
    evidence(run_cli, tmp_path, "support-bot@1")
    shown_bot = ok(run_cli("show", "support-bot@1", json=True)).json()
    assert [e["metrics"]["accuracy"] for e in shown_bot["evals"]] == [0.91]
    assert shown_bot["card"]["intended_use"] == CARD["intended_use"]
    markdown = ok(run_cli("card", "support-bot@1")).stdout
    assert "## Limitations" in markdown
    assert "support-evals@1: accuracy=0.91" in markdown

    # Staging: the requester may not approve her own request; bob may.
    promoted = ok(
        run_cli("promote", "support-bot@1", "--to", "staging", "--reason", "evals pass", json=True)
    ).json()
    staging_request = promoted["request"]
    assert promoted["status"] == "pending"
    assert promoted["target"] == "staging"
    line = refused(run_cli("approve", str(staging_request), "--reason", "mine", actor=ALICE))
    assert "cannot approve" in line
    ok(run_cli("approve", str(staging_request), "--reason", "reviewed evals", actor=BOB))
    change = ok(run_cli("apply", str(staging_request), json=True)).json()
    assert (change["entry"], change["version"], change["stage"]) == ("support-bot", 1, "staging")
    assert change["approved_by"] == [BOB]
    assert ok(run_cli("show", "support-bot@staging", json=True)).json()["version"] == 1

    # Production needs two signed approvals (the stack inherits support-lora's high risk):
    # make keys, and the admin loads a catalog that registers them.
    keys = {}
    for person, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
        generated = ok(
            run_cli("keys", "generate", "--out", str(tmp_path / f"{name}.pem"), json=True)
        ).json()
        keys[person] = generated["public_key"]
    keyed = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    keyed["policy"]["approver_keys"] = keys
    keyed_file = write(tmp_path / "catalog-keyed.yaml", keyed)
    refused(run_cli("init", "--catalog", str(keyed_file), actor=ALICE), 5)
    loaded = ok(run_cli("init", "--catalog", str(keyed_file), actor=CAROL, json=True)).json()
    assert loaded["changed"] is True

    prod_request = promote(run_cli, "support-bot@1", "production", actor=ALICE)
    for person, name in ((BOB, "bob"), (CAROL, "carol")):
        approval = ok(
            run_cli(
                "approve",
                str(prod_request),
                "--reason",
                "evals, card and licenses checked",
                "--key",
                str(tmp_path / f"{name}.pem"),
                actor=person,
                json=True,
            )
        ).json()
        assert approval["signed"] is True
    report = ok(run_cli("gates", str(prod_request), json=True)).json()
    assert report["request"] == prod_request
    assert report["passed"] is True, report
    assert {g["name"] for g in report["gates"]} == GATE_NAMES
    assert all(g["passed"] for g in report["gates"]), report
    assert all(g["detail"] for g in report["gates"])
    assert "accuracy = 0.91" in gate_map(report)["evals"]["detail"]
    assert "2 of 2 signed approvals" in gate_map(report)["approvals"]["detail"]
    change = ok(run_cli("apply", str(prod_request), json=True)).json()
    assert (change["version"], change["stage"], change["previous"]) == (1, "production", None)
    assert change["approved_by"] == [BOB, CAROL]

    # What serves customer-support: the exact stack, its components, who approved it.
    now_v1 = ok(run_cli("resolve", "customer-support", json=True)).json()
    assert now_v1["stack"] == {
        "entry": "support-bot",
        "version": 1,
        "digest": out["support-bot"]["digest"],
    }
    assert {c["entry"] for c in now_v1["components"]} == STACK_COMPONENTS
    for component in now_v1["components"]:
        assert component["version"] == 1
        assert component["digest"] == out[component["entry"]]["digest"]
    assert now_v1["approved_by"] == [BOB, CAROL]
    assert now_v1["request"] == prod_request
    t1 = now_v1["as_of"]["time"]
    assert now_v1["since"] <= t1
    text = ok(run_cli("resolve", "customer-support")).stdout
    assert f"support-bot@1 {out['support-bot']['digest']}" in text
    assert "approved by bob@example.com, carol@example.com" in text

    # Version 2: a new prompt, so a new stack version, through both stages again.
    prompt_2 = register(
        run_cli,
        "support-prompt",
        str(artifacts("prompt-2", {"system.txt": b"You are a concise support agent.\n"})),
    )
    assert (prompt_2["version"], prompt_2["created"]) == (2, True)
    pins = {name: 1 for name in STACK_COMPONENTS} | {"support-prompt": 2}
    bot_2 = register(
        run_cli,
        "support-bot",
        *[arg for name, v in sorted(pins.items()) for arg in ("--pin", f"{name}@{v}")],
    )
    assert (bot_2["version"], bot_2["created"]) == (2, True)
    assert bot_2["digest"] != out["support-bot"]["digest"]
    evidence(run_cli, tmp_path, "support-bot@2", accuracy=0.93)
    to_staging(run_cli, "support-bot@2")
    prod_request_2 = promote(run_cli, "support-bot@2", "production", actor=BOB)
    for person, name in ((ALICE, "alice"), (CAROL, "carol")):
        ok(
            run_cli(
                "approve",
                str(prod_request_2),
                "--reason",
                "better accuracy",
                "--key",
                str(tmp_path / f"{name}.pem"),
                actor=person,
            )
        )
    assert ok(run_cli("gates", str(prod_request_2), json=True)).json()["passed"] is True
    change = ok(run_cli("apply", str(prod_request_2), json=True)).json()
    assert (change["version"], change["previous"]) == (2, 1)
    now_v2 = ok(run_cli("resolve", "customer-support", json=True)).json()
    assert now_v2["stack"]["version"] == 2
    assert now_v2["stack"]["digest"] == bot_2["digest"]
    assert {(c["entry"], c["version"]) for c in now_v2["components"]} >= {("support-prompt", 2)}
    assert now_v2["approved_by"] == [ALICE, CAROL]
    t2 = now_v2["as_of"]["time"]
    assert ok(run_cli("show", "support-bot@1", json=True)).json()["stage"] == "archived"

    # Roll production back to v1.
    rolled = ok(
        run_cli(
            "rollback",
            "support-bot",
            "--stage",
            "production",
            "--reason",
            "v2 answers too tersely",
            actor=BOB,
            json=True,
        )
    ).json()
    assert (rolled["version"], rolled["previous"], rolled["stage"]) == (1, 2, "production")
    assert rolled["approved_by"] == [BOB, CAROL]
    now_back = ok(run_cli("resolve", "customer-support", json=True)).json()
    assert now_back["stack"]["version"] == 1
    assert now_back["approved_by"] == [BOB, CAROL]

    # Time travel: what served at t1 (v1) and at t2 (v2), with their approvers.
    at_t1 = ok(run_cli("resolve", "customer-support", "--at", t1, json=True)).json()
    assert at_t1["stack"]["version"] == 1
    assert at_t1["stack"]["digest"] == out["support-bot"]["digest"]
    assert at_t1["approved_by"] == [BOB, CAROL]
    t1_plus_2h = datetime.fromisoformat(t1).astimezone(timezone(timedelta(hours=2))).isoformat()
    at_t1_offset = ok(run_cli("resolve", "customer-support", "--at", t1_plus_2h, json=True)).json()
    assert at_t1_offset["stack"]["version"] == 1
    at_t2 = ok(run_cli("resolve", "customer-support", "--at", t2, json=True)).json()
    assert at_t2["stack"]["version"] == 2
    assert at_t2["stack"]["digest"] == bot_2["digest"]
    assert at_t2["approved_by"] == [ALICE, CAROL]
    before = refused(run_cli("resolve", "customer-support", "--at", "2020-01-01T00:00:00Z"), code=3)
    assert "no production stack" in before

    # History of production: v1, then v2, then v1 again by rollback.
    history = ok(run_cli("history", "support-bot", "--stage", "production", json=True)).json()
    rows = history["history"]
    assert [r["version"] for r in rows] == [1, 2, 1]
    assert [r["cause"] for r in rows] == ["promotion", "promotion", "rollback"]
    assert [r["actor"] for r in rows][-1] == BOB
    assert rows[0]["effective_to"] is not None
    assert rows[1]["effective_to"] is not None
    assert rows[2]["effective_to"] is None
    assert rows[0]["effective_from"] <= t1 < rows[0]["effective_to"]
    assert rows[1]["effective_from"] <= t2 < rows[1]["effective_to"]
    table = ok(run_cli("history", "support-bot", "--stage", "production")).stdout
    assert "v2 answers too tersely" in table

    # Every event names who was proven to act: through the server, the principal of the
    # token presented (by its id); on the database itself, the OS user beside the actor.
    recorded = raw_rows(db_url, "SELECT actor, action, auth FROM ledger ORDER BY seq")
    token_ids = getattr(run_cli, "token_ids", None)
    story = [(a, act, json.loads(auth)) for a, act, auth in recorded if a != "operator"]
    assert len(story) > 20
    for actor, action, auth in story:
        assert auth["principal"] == actor, (action, auth)
        if token_ids is None:
            assert auth["method"] == "local", (action, auth)
            assert auth["os_user"], (action, auth)
        else:
            assert auth["method"] == "token", (action, auth)
            assert auth["token_id"] == token_ids[actor], (action, auth)
    if token_ids is not None:
        minted = [act for a, act, _ in recorded if a == "operator"]
        assert set(minted) == {"token.create"}, minted

    # The ledger is intact...
    verified = ok(run_cli("audit", "verify", json=True)).json()
    assert verified["ok"] is True
    assert verified["events"] > 20
    assert len(verified["head"]) == 64
    assert int(verified["head"], 16) >= 0
    assert "ledger ok" in ok(run_cli("audit", "verify")).stdout

    # ... until someone rewrites an event's payload behind the registry's back.
    [(seq, payload)] = raw_rows(
        db_url,
        "SELECT seq, payload FROM ledger WHERE action = 'promotion.apply' "
        "AND subject = 'support-bot@1' ORDER BY seq DESC LIMIT 1",
    )
    forged = json.loads(payload)
    forged["approved_by"] = ["mallory@example.com"]
    raw_sql(
        db_url,
        "UPDATE ledger SET payload = :payload WHERE seq = :seq",
        payload=json.dumps(forged, sort_keys=True, separators=(",", ":")),
        seq=seq,
    )
    assert seq < verified["events"]
    broken = run_cli("audit", "verify")
    line = refused(broken, code=4)
    assert f"event {seq}" in line
    broken_json = run_cli("audit", "verify", json=True)
    assert broken_json.code == 4
    data = broken_json.json()
    assert data["ok"] is False
    assert data["broken_at"] == seq


# -- gates and refusals --------------------------------------------------------------------


def test_apply_without_approval_is_refused_and_names_the_approvals_gate(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    build_stack(run_cli, artifacts, tmp_path)
    request = promote(run_cli, "support-bot@1", "staging")
    line = refused(run_cli("apply", str(request)), code=5)
    assert f"request {request} refused" in line
    assert "approvals: 0 of 1 approval" in line
    assert ok(run_cli("show", "support-bot@1", json=True)).json()["stage"] == "candidate"
    report = ok(run_cli("gates", str(request), json=True)).json()
    assert report["passed"] is False
    assert [g["name"] for g in report["gates"] if not g["passed"]] == ["approvals"]


def test_failing_eval_blocks_production_and_gates_name_the_evals_gate(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    build_stack(run_cli, artifacts, tmp_path)
    evidence(run_cli, tmp_path, "support-bot@1", accuracy=0.5)
    to_staging(run_cli, "support-bot@1")
    request = promote(run_cli, "support-bot@1", "production")
    report = ok(run_cli("gates", str(request), json=True)).json()
    assert report["passed"] is False
    evals = gate_map(report)["evals"]
    assert evals["passed"] is False
    assert "accuracy = 0.5" in evals["detail"]
    assert "accuracy >= 0.8" in evals["detail"]
    assert gate_map(report)["model_card"]["passed"] is True
    assert gate_map(report)["license"]["passed"] is True
    text = ok(run_cli("gates", str(request))).stdout
    assert "FAIL  evals" in text
    line = refused(run_cli("apply", str(request)), code=5)
    assert "evals: " in line
    assert ok(run_cli("show", "support-bot@1", json=True)).json()["stage"] == "staging"


def test_registering_identical_content_again_returns_the_existing_version(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL))
    files = {"model.onnx": b"same-bytes", "tokenizer/vocab.txt": b"a\nb\n"}
    first = register(run_cli, "bge-small", str(artifacts("bge-a", files)))
    events = ledger_count(run_cli)
    again = run_cli("register", "bge-small", str(artifacts("bge-b", files)), json=True)
    second = ok(again).json()
    assert first["created"] is True
    assert second["created"] is False
    assert (second["version"], second["digest"]) == (first["version"], first["digest"])
    assert "already has this content" in again.stderr
    assert ledger_count(run_cli) == events
    listed = ok(run_cli("list", "--kind", "embedding_model", json=True)).json()["entries"]
    assert [(e["entry"], e["versions"]) for e in listed] == [("bge-small", 1)]


def test_registering_a_stack_with_the_same_pins_in_another_order_returns_the_same_version(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    out = build_stack(run_cli, artifacts, tmp_path)
    pins = [a for name in sorted(STACK_COMPONENTS, reverse=True) for a in ("--pin", f"{name}@1")]
    again = ok(run_cli("register", "support-bot", *pins, json=True)).json()
    assert again["created"] is False
    assert (again["version"], again["digest"]) == (1, out["support-bot"]["digest"])


def test_stale_eval_results_block_production(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    build_stack(run_cli, artifacts, tmp_path)
    produced = (datetime.now(UTC) - timedelta(days=45)).isoformat()
    results = write(
        tmp_path / "old-results.json", {"metrics": {"accuracy": 0.95}, "produced_at": produced}
    )
    ok(run_cli("eval", "ingest", "support-bot@1", str(results), "--suite", "support-evals@1"))
    ok(run_cli("card", "support-bot@1", "--set", str(write(tmp_path / "card.yaml", CARD))))
    to_staging(run_cli, "support-bot@1")
    request = promote(run_cli, "support-bot@1", "production")
    evals = gate_map(ok(run_cli("gates", str(request), json=True)).json())["evals"]
    assert evals["passed"] is False
    assert "45 days old" in evals["detail"]
    assert "max 30" in evals["detail"]


def test_audit_verify_detects_a_deleted_last_event(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path, db_url: str
) -> None:
    ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL))
    register(run_cli, "bge-small", str(artifacts("bge", {"model.onnx": b"w"})))
    register(run_cli, "support-prompt", str(artifacts("prompt", {"p.txt": b"hi"})))
    events = ledger_count(run_cli)
    raw_sql(db_url, f"DELETE FROM ledger WHERE seq = {events}")
    line = refused(run_cli("audit", "verify"), code=4)
    assert f"event {events}" in line
    assert "removed" in line


def test_rejected_request_cannot_be_applied(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    build_stack(run_cli, artifacts, tmp_path)
    request = promote(run_cli, "support-bot@1", "staging")
    rejected = ok(run_cli("reject", str(request), "--reason", "card missing", actor=BOB, json=True))
    assert rejected.json()["decision"] == "reject"
    result = run_cli("apply", str(request))
    assert result.code in (4, 5)
    line = refused(result, code=result.code)
    assert "rejected" in line
    assert ok(run_cli("show", "support-bot@1", json=True)).json()["stage"] == "candidate"
    late = run_cli("approve", str(request), "--reason", "changed my mind", actor=CAROL)
    assert "already rejected" in refused(late, code=4)


def test_high_risk_adapter_with_unsigned_approval_is_blocked_by_approvals_gate(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    build_stack(run_cli, artifacts, tmp_path)
    to_staging(run_cli, "support-lora@1")
    request = promote(run_cli, "support-lora@1", "production")
    line = refused(run_cli("approve", str(request), "--reason", "looks fine", actor=BOB), code=5)
    assert "unsigned" in line
    assert "--key" in line
    report = ok(run_cli("gates", str(request), json=True)).json()
    approvals = gate_map(report)["approvals"]
    assert approvals["passed"] is False
    assert "0 of 2 signed approvals" in approvals["detail"]
    line = refused(run_cli("apply", str(request)), code=5)
    assert "approvals: 0 of 2 signed approvals" in line
    assert ok(run_cli("show", "support-lora@1", json=True)).json()["stage"] == "staging"


def test_stack_inherits_high_risk_so_one_unsigned_production_approval_is_not_enough(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path
) -> None:
    build_stack(run_cli, artifacts, tmp_path)
    evidence(run_cli, tmp_path, "support-bot@1")
    to_staging(run_cli, "support-bot@1")
    request = promote(run_cli, "support-bot@1", "production")
    line = refused(run_cli("approve", str(request), "--reason", "looks fine", actor=BOB), code=5)
    assert "needs signed approvals" in line
    report = ok(run_cli("gates", str(request), json=True)).json()
    failed = [g for g in report["gates"] if not g["passed"]]
    assert [g["name"] for g in failed] == ["approvals"]
    assert "0 of 2 signed approvals" in failed[0]["detail"]


def test_a_promotion_stuck_on_signatures_can_be_signed_again_or_withdrawn(
    run_cli: RunCli, artifacts: Artifacts, tmp_path: Path, db_url: str
) -> None:
    """Unsigned approvals are refused where the rule needs signatures; an approver replaces
    an earlier decision with a signed one; a withdrawn request frees the version."""
    build_stack(run_cli, artifacts, tmp_path)
    evidence(run_cli, tmp_path, "support-lora@1")
    to_staging(run_cli, "support-lora@1")
    document = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    high = document["policy"]["stages"]["production"]["by_risk_class"]["high"]
    high["signed_approvals"] = False
    ok(run_cli("init", "--catalog", str(write(tmp_path / "unsigned.yaml", document)), actor=CAROL))
    first = promote(run_cli, "support-lora@1", "production", actor=ALICE)
    unsigned = ok(run_cli("approve", str(first), "--reason", "fine", actor=BOB, json=True)).json()
    assert unsigned["signed"] is False

    # The policy now needs signatures: bob's earlier approval no longer counts.
    keys = {}
    for person, name in ((BOB, "bob"), (CAROL, "carol")):
        made = ok(run_cli("keys", "generate", "--out", str(tmp_path / f"{name}.pem"), json=True))
        keys[person] = made.json()["public_key"]
    high["signed_approvals"] = True
    document["policy"]["approver_keys"] = keys
    ok(run_cli("init", "--catalog", str(write(tmp_path / "keyed.yaml", document)), actor=CAROL))
    detail = gate_map(ok(run_cli("gates", str(first), json=True)).json())["approvals"]["detail"]
    assert "0 of 2 signed approvals" in detail
    assert "unsigned" in detail

    line = refused(run_cli("approve", str(first), "--reason", "again", actor=BOB), code=5)
    assert "--key" in line
    signed = ok(
        run_cli(
            "approve",
            str(first),
            "--reason",
            "signed this time",
            "--key",
            str(tmp_path / "bob.pem"),
            actor=BOB,
            json=True,
        )
    ).json()
    assert (signed["signed"], signed["replaced"]) == (True, True)
    detail = gate_map(ok(run_cli("gates", str(first), json=True)).json())["approvals"]["detail"]
    assert "1 of 2 signed approvals (bob@example.com)" in detail

    # A request for the same version and stage is refused while this one is pending.
    refused(run_cli("promote", "support-lora@1", "--to", "production", "--reason", "x"), code=4)
    line = refused(run_cli("withdraw", str(first), "--reason", "not mine", actor=BOB), code=5)
    assert "requester" in line
    withdrawn = ok(
        run_cli("withdraw", str(first), "--reason", "start over", actor=ALICE, json=True)
    ).json()
    assert (withdrawn["status"], withdrawn["by"]) == ("withdrawn", ALICE)
    refused(run_cli("withdraw", str(first), "--reason", "twice", actor=ALICE), code=4)
    refused(run_cli("approve", str(first), "--reason", "late", actor=BOB), code=4)
    second = promote(run_cli, "support-lora@1", "production", actor=ALICE)
    assert second != first
    for person, name in ((BOB, "bob"), (CAROL, "carol")):
        run = run_cli(
            "approve",
            str(second),
            "--reason",
            "ok",
            "--key",
            str(tmp_path / f"{name}.pem"),
            actor=person,
        )
        ok(run)
    change = ok(run_cli("apply", str(second), json=True)).json()
    assert (change["stage"], change["approved_by"]) == ("production", [BOB, CAROL])
    withdrawals = raw_rows(db_url, "SELECT payload FROM ledger WHERE action = 'promotion.withdraw'")
    assert [json.loads(p)["request"] for (p,) in withdrawals] == [first]
    replaced = raw_rows(db_url, "SELECT payload FROM ledger WHERE action = 'promotion.approve'")
    assert sum("replaces" in json.loads(p) for (p,) in replaced) == 1
