"""Seed and drive the demo estate while Dagster runs.

``python examples/demo.py prepare``: create the registry, load ``examples/catalog.yaml``,
generate the example artifacts.
``python examples/demo.py drive``: drop the training outputs into the landing folder wave by
wave (the training sensor registers them; the stack sensor assembles the stacks), then add
evals and cards, request promotions and approve them as different people. The gate sensor
applies what passes and explains what does not. The support bot's production request is
left for a newcomer to approve in the web UI, through the login link printed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from generate import WAVES, generate

from registry_pipeline.errors import Conflict, NotFound, Refused
from registry_pipeline.landing import landing_root
from registry_pipeline.service import Registry

HERE = Path(__file__).parent
CATALOG = HERE / "catalog.yaml"
DATABASE = os.environ.get("REGISTRY_DATABASE_URL", "sqlite:///.registry/registry.db")
OUTPUTS = Path(".registry/demo/outputs")
ADMIN, REQUESTER, APPROVER = "carol@example.com", "alice@example.com", "bob@example.com"
TIMEOUT_S = 300
WEB_UI = os.environ.get("REGISTRY_DEMO_UI", "http://127.0.0.1:8080")


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def prepare() -> None:
    _, summary = Registry.init(DATABASE, catalog=CATALOG, actor=ADMIN)
    say(f"registry at {DATABASE} with {summary.entries} entries")
    if OUTPUTS.exists():
        shutil.rmtree(OUTPUTS)
    generate(OUTPUTS)
    say(f"example training outputs generated under {OUTPUTS}")


def drop(folder: Path, landing: Path) -> None:
    """Copy a finished output into the landing folder atomically (write hidden, rename)."""
    entry, run_id = folder.parent.name, folder.name
    final = landing / entry / run_id
    if final.exists():
        return
    staging = landing / entry / f".tmp-{run_id}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folder, staging)
    staging.rename(final)


def wait_for(what: str, check: object) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                say(f"{what}: done")
                return
        except NotFound:
            pass
        time.sleep(2)
    raise SystemExit(
        f"[demo] gave up waiting for {what}; is `dagster dev` running with sensors on?"
    )


def promote(stack: str, version: int, stage: str) -> None:
    requester = Registry.open(DATABASE, actor=REQUESTER)
    approver = Registry.open(DATABASE, actor=APPROVER)
    try:
        request = requester.request_promotion(
            f"{stack}@{version}", to=stage, reason=f"demo: {stage} for the example workload"
        )
    except Conflict as e:
        say(f"{stack}@{version} -> {stage}: {e}")
        return
    say(f"{REQUESTER} requested {stack}@{version} -> {stage} (request {request.id})")
    try:
        approver.approve(request.id, reason="evals, card and lineage reviewed")
    except Refused as e:
        say(f"request {request.id} stays pending: {e}")
        return
    say(f"{APPROVER} approved request {request.id}; the gate sensor takes it from here")


def drive() -> None:
    landing = landing_root().resolve()
    registry = Registry.open(DATABASE, actor=ADMIN)
    for number, wave in enumerate(WAVES, start=1):
        for entry in wave:
            drop(OUTPUTS / f"wave{number}" / entry / "run-0001", landing)
        say(f"wave {number}: dropped {', '.join(wave)} into {landing}")
        wait_for(
            f"wave {number} registered",
            lambda wave=wave: all(v for v in registry.latest_versions(list(wave)).values()),
        )
    stacks = ["support-bot", "credit-scoring"]
    wait_for("stacks assembled", lambda: all(registry.latest_versions(stacks).values()))
    card = {
        "intended_use": "Answer customer questions from the help centre; escalate to a person",
        "limitations": "English only; answers only from the help centre; may be out of date",
        "training_data": "support-tickets-2026q3 (PII removed), help-centre snapshot 2026-11",
    }
    owner = Registry.open(DATABASE, actor="support-ml@example.com")
    owner.ingest_evals(
        "support-bot@1",
        {"metrics": {"accuracy": 0.87, "hallucination_rate": 0.02}},
        suite="support-evals@1",
    )
    owner.set_card("support-bot@1", card)
    risk = Registry.open(DATABASE, actor="risk-ml@example.com")
    risk.ingest_evals(
        "credit-scoring@1",
        {"metrics": {"auc": 0.81, "approval_rate_parity": 0.91}},
        suite="credit-evals@1",
    )
    risk.set_card(
        "credit-scoring@1",
        {
            "intended_use": "Rank loan applications for manual underwriting review",
            "limitations": "Never an automatic refusal; retrain when approval parity < 0.8",
            "training_data": "loan-applications-2026h1 with 12-month repayment outcomes",
        },
    )
    for stack in stacks:
        promote(stack, 1, "staging")
    wait_for(
        "both stacks in staging",
        lambda: all(registry.show(f"{s}@1").to_dict()["stage"] == "staging" for s in stacks),
    )
    promote("credit-scoring", 1, "production")
    requester = Registry.open(DATABASE, actor=REQUESTER)
    pending = requester.request_promotion(
        "support-bot@1", to="production", reason="demo: the support bot's first release"
    )
    say(f"{REQUESTER} requested support-bot@1 -> production (request {pending.id})")
    operator = Registry.open(DATABASE, actor="operator")
    token = operator.tokens.create(principal=APPROVER, name="demo", expires_in="1d").token
    say(
        f"request {pending.id} waits for an approver: log in as {APPROVER} with "
        f"{WEB_UI}/login#token={token} and approve it; the gate sensor then applies it"
    )
    wait_for(
        "support-bot in production",
        lambda: registry.show("support-bot@1").to_dict()["stage"] == "production",
    )
    resolved = registry.resolve("customer-support").to_dict()
    say(
        f"customer-support resolves to support-bot@{resolved['stack']['version']}, approved by "
        f"{', '.join(resolved['approved_by'])}"
    )
    say(
        "credit-scoring stays in staging: high risk needs two signed approvals; see the "
        "promotion_gates sensor's skip reason in the UI"
    )
    say(f"done; open {WEB_UI} and http://localhost:3000, and try the commands in README.md")


if __name__ == "__main__":
    {"prepare": prepare, "drive": drive}[sys.argv[1] if len(sys.argv) > 1 else "prepare"]()
