"""End to end through ``dagster dev``: the webserver and the daemon run as subprocesses, the
sensors run for real, and the registry is driven through the real CLI.

The story: training outputs dropped in the landing folder are registered by the
``training_outputs`` sensor (the suite first, then the classifier with its eval results), the
``stack_assembly`` sensor pins both into ``churn-service@1``, the owner adds evals and a card,
alice requests promotions that bob approves, and the ``promotion_gates`` sensor applies them
through ``apply_promotion`` runs until ``churn`` resolves to ``churn-service@1`` in production.
A request without an approval is skipped by the gate sensor, which names the ``approvals`` gate.

Every wait polls with a deadline; the sensors tick every 2 seconds
(``REGISTRY_SENSOR_INTERVAL=2``), so the whole story takes about a minute or two.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import unavailable

from registry_pipeline.errors import NotFound
from registry_pipeline.service import Registry

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = ROOT / "workspace.yaml"
INSTANCE_YAML = ROOT / "dagster.yaml"
CATALOG = ROOT / "tests" / "fixtures" / "e2e_catalog.yaml"
DAGSTER = Path(sys.executable).with_name("dagster")

LOCATION = "registry"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
OWNER = "growth-ml@example.com"
SENSORS = {
    "training_outputs",
    "stack_assembly",
    "promotion_gates",
    "ledger_changes",
    "review_due",
}

LOAD_TIMEOUT_S = 180.0
STEP_TIMEOUT_S = 150.0
POLL_S = 0.5
LOG_TAIL_LINES = 150

Result = Any  # tests/conftest.py's Result: code, stdout, stderr, json()
RunCli = Callable[..., Result]


# -- helpers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document) if path.suffix == ".json" else yaml.safe_dump(document)
    path.write_text(text, encoding="utf-8")
    return path


def drop_output(landing: Path, entry: str, run_id: str, files: dict[str, Any]) -> Path:
    """Write a training output into ``<landing>/<entry>/.tmp-<run-id>/`` (the manifest last)
    and rename it into place, as the landing protocol asks."""
    staging = landing / entry / f".tmp-{run_id}"
    final = landing / entry / run_id
    shutil.rmtree(staging, ignore_errors=True)
    manifest = files.pop("registry.yaml")
    for name, content in files.items():
        path = staging / name
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            write(path, content)
    write(staging / "registry.yaml", manifest)
    staging.rename(final)
    return final


def ok(result: Result) -> Result:
    """Assert a CLI run succeeded; show its output when it did not."""
    assert result.code == 0, f"exit {result.code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


@dataclass
class DagsterDev:
    """A running ``dagster dev`` and its GraphQL endpoint."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(
                f"dagster dev exited with {self.proc.returncode}; log tail:\n{self.tail()}",
                pytrace=False,
            )

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a query; return its ``data`` (fail on GraphQL errors)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            document = json.loads(response.read())
        assert not document.get("errors"), f"GraphQL errors: {document['errors']}"
        return dict(document["data"])

    def wait(self, what: str, check: Callable[[], Any], timeout: float = STEP_TIMEOUT_S) -> Any:
        """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds
        (or at once if ``dagster dev`` died) with the last value or error seen."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            self.check_alive()
            try:
                value = check()
            except (urllib.error.URLError, ConnectionError, TimeoutError, NotFound) as e:
                value, last = None, f"{type(e).__name__}: {e}"
            else:
                if value:
                    return value
                last = value
            if time.monotonic() > deadline:
                pytest.fail(
                    f"gave up after {timeout:.0f}s waiting for {what}; last: {last!r}\n"
                    f"dagster dev log tail:\n{self.tail()}",
                    pytrace=False,
                )
            time.sleep(POLL_S)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)  # anyone left in the group?
        except ProcessLookupError:
            break
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)


# -- GraphQL queries -----------------------------------------------------------------------

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } }
    ... on PythonError { message } } }
"""

REPOSITORIES_QUERY = """
{ repositoriesOrError { __typename
    ... on RepositoryConnection { nodes { name location { name }
        sensors { name sensorState { status } } } }
    ... on PythonError { message } } }
"""

RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) { __typename
    ... on Runs { results { runId jobName status tags { key value } } }
    ... on PythonError { message } } }
"""

RUN_FAILURE_QUERY = """
query Failure($runId: ID!) {
  runOrError(runId: $runId) { __typename
    ... on Run { eventConnection { events { __typename
        ... on MessageEvent { message }
        ... on ExecutionStepFailureEvent { error { message } } } } } } }
"""

TICKS_QUERY = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { __typename
    ... on Sensor { sensorState { status
        ticks(limit: 10, statuses: [SKIPPED]) { status skipReason timestamp } } }
    ... on PythonError { message } } }
"""


def runs(dev: DagsterDev, **run_filter: Any) -> list[dict[str, Any]]:
    data = dev.graphql(RUNS_QUERY, {"filter": run_filter})["runsOrError"]
    assert data["__typename"] == "Runs", data
    return list(data["results"])


def failures(dev: DagsterDev, found: list[dict[str, Any]]) -> str:
    """The failure messages of failed runs, for assertion messages."""
    lines = []
    for run in found:
        if run["status"] != "FAILURE":
            continue
        events = dev.graphql(RUN_FAILURE_QUERY, {"runId": run["runId"]})["runOrError"]
        errors = [
            (e.get("error") or {}).get("message") or e.get("message", "")
            for e in events.get("eventConnection", {}).get("events", [])
            if e["__typename"] in {"ExecutionStepFailureEvent", "RunFailureEvent"}
        ]
        lines.append(f"{run['jobName']} {run['runId']}: {' | '.join(errors)}")
    return "\n".join(lines)


def tag(run: dict[str, Any], key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where the registry and Dagster's instance live: SQLite files, or one PostgreSQL
    server holding both (the scale-out layout of deploy/dagster-postgres.yaml)."""
    if request.param == "sqlite":
        return {
            "db_url": f"sqlite:///{tmp_path / 'registry.db'}",
            "instance": INSTANCE_YAML,
            "env": {},
        }
    cluster = request.getfixturevalue("pg_cluster")
    suffix = os.urandom(6).hex()
    cluster.create_database(f"dagster_{suffix}")
    return {
        "db_url": cluster.create_database(f"registry_{suffix}"),
        "instance": ROOT / "deploy" / "dagster-postgres.yaml",
        "env": {
            "DAGSTER_PG_USERNAME": cluster.user,
            "DAGSTER_PG_PASSWORD": "trust",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(cluster.port),
            "DAGSTER_PG_DB": f"dagster_{suffix}",
        },
    }


@pytest.fixture
def db_url(backend: dict[str, Any]) -> str:
    return str(backend["db_url"])


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def registry_db(run_cli: RunCli) -> None:
    """The registry, initialised from the e2e catalog by the admin."""
    data = ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL, json=True)).json()
    assert data["entries"] == 3, data


@pytest.fixture
def dagster_dev(
    tmp_path: Path, db_url: str, landing: Path, registry_db: None, backend: dict[str, Any]
) -> Iterator[DagsterDev]:
    """``dagster dev`` on a free port with the sensors running, its code location loaded.
    Torn down by killing its whole process group."""
    if not DAGSTER.exists():
        unavailable(f"{DAGSTER} not found; run the tests with the project's venv")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(backend["instance"], home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        REGISTRY_DATABASE_URL=db_url,
        REGISTRY_CATALOG=str(CATALOG),
        REGISTRY_LANDING=str(landing),
        # Deployment manifests (if the catalog names targets) stay in tmp, not in the repo.
        REGISTRY_DEPLOYMENTS=str(tmp_path / "deployments"),
        REGISTRY_INVENTORY=str(tmp_path / "inventory"),
        REGISTRY_EXPORTS=str(tmp_path / "exports"),
        REGISTRY_HASH_CACHE=str(tmp_path / "hash-cache.db"),
        REGISTRY_SENSORS="running",
        REGISTRY_SENSOR_INTERVAL="2",
        DAGSTER_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
        **backend["env"],
    )
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(DAGSTER), "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    dev = DagsterDev(proc=proc, port=port, log=log)
    try:

        def loaded() -> bool:
            data = dev.graphql(WORKSPACE_QUERY)["workspaceOrError"]
            assert data["__typename"] == "Workspace", data
            entry = next((e for e in data["locationEntries"] if e["name"] == LOCATION), None)
            assert entry is not None, f"no code location {LOCATION!r}: {data}"
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                pytest.fail(
                    f"code location {LOCATION!r} failed to load: {error['message']}\n"
                    f"{''.join(error.get('stack') or [])}",
                    pytrace=False,
                )
            return entry["loadStatus"] == "LOADED" and error is not None

        dev.wait(f"code location {LOCATION!r} to load", loaded, timeout=LOAD_TIMEOUT_S)
        yield dev
    finally:
        tail = dev.tail()  # before the shutdown noise
        stop(proc)
        print(f"--- dagster dev log tail before teardown ({log}) ---\n{tail}")


# -- the test ------------------------------------------------------------------------------


def test_training_outputs_to_production_through_dagster_dev(
    dagster_dev: DagsterDev, run_cli: RunCli, db_url: str, landing: Path, tmp_path: Path
) -> None:
    dev = dagster_dev
    registry = Registry.open(db_url, actor="e2e-observer")
    started = time.monotonic()

    # The one repository of the code location, with every sensor started by
    # REGISTRY_SENSORS=running.
    repos = dev.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]
    assert repos["__typename"] == "RepositoryConnection", repos
    ours = [r for r in repos["nodes"] if r["location"]["name"] == LOCATION]
    assert len(ours) == 1, repos
    repository = ours[0]["name"]
    assert repository == "__repository__"
    states = {s["name"]: s["sensorState"]["status"] for s in ours[0]["sensors"]}
    assert states == dict.fromkeys(SENSORS, "RUNNING"), states

    def registered(entry: str) -> Callable[[], bool]:
        """Has ``entry@1`` been registered? Fails at once when any run failed (a rejected
        training output, a failed registration) instead of waiting for the deadline."""

        def check() -> bool:
            if registry.latest_versions([entry])[entry] == 1:
                return True
            failed = runs(dev, statuses=["FAILURE"])
            assert failed == [], failures(dev, failed)
            return False

        return check

    # 1. The eval suite lands first: the classifier's eval results name its version.
    drop_output(
        landing,
        "churn-evals",
        "run-1",
        {
            "suite.yaml": {"metrics": ["auc"], "dataset": "churn-holdout-2026q3"},
            "registry.yaml": {"entry": "churn-evals", "complete": True},
        },
    )
    dev.wait("churn-evals@1 to be registered", registered("churn-evals"))

    # 2. The classifier lands with its eval results; the sensor ingests them with it.
    drop_output(
        landing,
        "churn-clf",
        "run-1",
        {
            "model.json": {"type": "logistic_regression", "coef": [0.4, -1.2, 0.7]},
            "weights.bin": bytes(range(256)),
            "eval_results.json": {"metrics": {"auc": 0.83}},
            "registry.yaml": {
                "entry": "churn-clf",
                "params": {"learning_rate": 0.1, "code_commit": "3f2c1e9"},
                "upstream": [],
                "evals": [{"file": "eval_results.json", "suite": "churn-evals@1"}],
                "complete": True,
            },
        },
    )
    dev.wait("churn-clf@1 to be registered", registered("churn-clf"))
    clf = ok(run_cli("show", "churn-clf@1", actor=OWNER, json=True)).json()
    assert clf["params"] == {"learning_rate": 0.1, "code_commit": "3f2c1e9"}
    assert [(e["suite"], e["suite_version"], e["metrics"]) for e in clf["evals"]] == [
        ("churn-evals", 1, {"auc": 0.83})
    ]

    # 3. A request that cannot pass: no approval. The gate sensor skips and says why.
    blocked = ok(
        run_cli(
            "promote", "churn-clf@1", "--to", "staging", "--reason", "try", actor=ALICE, json=True
        )
    ).json()["request"]
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": repository,
        "sensorName": "promotion_gates",
    }
    subject = f"request {blocked} (churn-clf@1 -> staging) blocked by"

    def gate_skip() -> str | None:
        data = dev.graphql(TICKS_QUERY, {"selector": selector})["sensorOrError"]
        assert data["__typename"] == "Sensor", data
        reasons = [t["skipReason"] or "" for t in data["sensorState"]["ticks"]]
        return next((r for r in reasons if subject in r), None)

    reason = dev.wait("promotion_gates to skip the unapproved request", gate_skip)
    assert "approvals: 0 of 1 approval" in reason, reason

    # 4. The stack sensor assembles churn-service@1 from the latest components.
    dev.wait("churn-service@1 to be assembled", registered("churn-service"))
    stack = ok(run_cli("show", "churn-service@1", actor=OWNER, json=True)).json()
    assert sorted(f"{u['entry']}@{u['version']}" for u in stack["lineage"]) == [
        "churn-clf@1",
        "churn-evals@1",
    ]
    assert stack["stage"] == "candidate"

    def registrations_done() -> list[dict[str, Any]] | None:
        found = runs(dev, pipelineName="register_entries")
        done = all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in found)
        return found if len(found) >= 3 and done else None

    registrations = dev.wait("the registration runs to finish", registrations_done)
    assert [r["status"] for r in registrations] == ["SUCCESS"] * 3, failures(dev, registrations)
    assert sorted(
        tag(r, "registry/landing") or f"stack:{tag(r, 'registry/stack')}" for r in registrations
    ) == ["churn-clf/run-1", "churn-evals/run-1", "stack:churn-service"]
    assert runs(dev, pipelineName="landing_rejected") == []

    # 5. The owner adds evidence; alice requests, bob approves, the gate sensor applies.
    results = write(tmp_path / "results.json", {"metrics": {"auc": 0.85}})
    ok(
        run_cli(
            "eval",
            "ingest",
            "churn-service@1",
            str(results),
            "--suite",
            "churn-evals@1",
            actor=OWNER,
        )
    )
    card = write(
        tmp_path / "card.yaml",
        {
            "intended_use": "Prioritise retention outreach for accounts likely to churn",
            "limitations": "Trained on 2026 data of EU accounts only; not for pricing",
        },
    )
    ok(run_cli("card", "churn-service@1", "--set", str(card), actor=OWNER))

    def promote(stage: str) -> None:
        request = ok(
            run_cli(
                "promote",
                "churn-service@1",
                "--to",
                stage,
                "--reason",
                f"e2e: churn-service@1 to {stage}",
                actor=ALICE,
                json=True,
            )
        ).json()["request"]
        ok(run_cli("approve", str(request), "--reason", "evals and card reviewed", actor=BOB))

        def applied() -> list[dict[str, Any]] | None:
            found = runs(
                dev,
                pipelineName="apply_promotion",
                tags=[{"key": "registry/request", "value": str(request)}],
            )
            assert all(r["status"] != "FAILURE" for r in found), failures(dev, found)
            return found if any(r["status"] == "SUCCESS" for r in found) else None

        dev.wait(f"an apply_promotion run of request {request} to succeed", applied)
        shown = ok(run_cli("show", "churn-service@1", actor=OWNER, json=True)).json()
        assert shown["stage"] == stage, shown

    promote("staging")
    promote("production")

    resolved = ok(run_cli("resolve", "churn", actor=OWNER, json=True)).json()
    assert resolved["stack"]["entry"] == "churn-service"
    assert resolved["stack"]["version"] == 1
    assert BOB in resolved["approved_by"], resolved
    assert sorted(f"{c['entry']}@{c['version']}" for c in resolved["components"]) == [
        "churn-clf@1",
        "churn-evals@1",
    ]

    # The unapproved request is still pending; nothing anywhere failed.
    gates = ok(run_cli("gates", str(blocked), actor=OWNER, json=True)).json()
    assert gates["passed"] is False
    assert [g["name"] for g in gates["gates"] if not g["passed"]] == ["approvals"], gates
    failed = runs(dev, statuses=["FAILURE"])
    assert failed == [], failures(dev, failed)
    assert ok(run_cli("audit", "verify", actor=OWNER, json=True)).json()["ok"] is True
    print(f"story done in {time.monotonic() - started:.1f}s after the code location loaded")
