"""The Dagster web UI in a real headless Chromium (Playwright), on the example estate.

``dagster dev`` runs on a free port with a temporary ``DAGSTER_HOME`` over a fresh registry
initialised from ``examples/catalog.yaml``, its sensors ticking every 2 seconds. The test
lands ``examples/generate.py``'s training outputs in the landing folder wave by wave (the
``training_outputs`` sensor registers them, ``stack_assembly`` pins the stacks), then
asserts on what a person sees:

1. the promotion_gates sensor's page explains, in the tick's skip reason, that an unapproved
   request is blocked by ``approvals``;
2. the group lineage views show every catalog entry with its kind and exactly the catalog's
   lineage edges (read from the rendered SVG: each edge's ends lie on its two nodes);
3. ``lora_adapter/support-lora`` shows its latest version (Version, Digest (sha256)), the
   model card rendered as Markdown, its upstream and downstream assets, and the pass/fail
   state of its ``evals``, ``model_card``, ``license`` and ``review`` checks;
4. after bob approves through the CLI, the gate sensor's ``apply_promotion`` run appears in
   the Runs page as a success and its log says where the version went.

Every step saves a screenshot in ``<tmp>/artifacts`` or ``$E2E_ARTIFACTS`` (printed);
``UPDATE_DOCS_SCREENSHOTS=1`` also copies the asset graph and the entry page to ``docs/``.
Needs Playwright (PyPI) and Debian's ``chromium`` (never ``playwright install``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import unavailable
from support.browser import chromium
from test_dagster_dev import (
    DAGSTER,
    INSTANCE_YAML,
    LOAD_TIMEOUT_S,
    LOCATION,
    WORKSPACE,
    WORKSPACE_QUERY,
    DagsterDev,
    failures,
    free_port,
    ok,
    runs,
    stop,
    tag,
)

from registry_pipeline.service import Registry

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CATALOG = EXAMPLES / "catalog.yaml"
DOCS = ROOT / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"

STEP_TIMEOUT_S = 240.0  # one backend step (a wave of registrations, an apply run)
UI_TIMEOUT_MS = 90_000  # one page or one element; the daemon and runs share two cores
POLL_S = 0.5
GRAPH_VIEWPORT = {"width": 1600, "height": 2100}  # tall enough to render every node
PAGE_VIEWPORT = {"width": 1920, "height": 1080}
MAX_SHOT_HEIGHT = 5000

Result = Any  # tests/conftest.py's Result
RunCli = Callable[..., Result]


# -- the example estate ----------------------------------------------------------------------


def load_generate() -> ModuleType:
    """``examples/generate.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("example_generate", EXAMPLES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def land(output: Path, landing: Path) -> None:
    """Move a finished training output into ``<landing>/<entry>/<run-id>/`` the way the
    landing protocol asks: copy into a hidden folder, then rename it into place."""
    entry, run_id = output.parent.name, output.name
    staging = landing / entry / f".tmp-{run_id}"
    shutil.copytree(output, staging)
    staging.rename(landing / entry / run_id)


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    group: str
    upstream: tuple[str, ...]  # upstream and components: the asset's dependencies


def catalog_entries() -> dict[str, Entry]:
    """The example catalog's entries with the Dagster group each belongs to."""
    document = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    workloads = {w["stack"]: name.replace("-", "_") for name, w in document["workloads"].items()}
    raw = document["entries"]
    group: dict[str, str] = {}
    for stack, name in workloads.items():
        todo = [stack]
        while todo:
            current = todo.pop()
            if current not in group:
                group[current] = name
                spec = raw[current]
                todo += [*spec.get("components", []), *spec.get("upstream", [])]
                todo += [n for n, s in raw.items() if current in s.get("evaluates", [])]
    return {
        name: Entry(
            name=name,
            kind=spec["kind"],
            group=group[name],
            upstream=(*spec.get("upstream", []), *spec.get("components", [])),
        )
        for name, spec in raw.items()
    }


# -- dagster dev on the example estate -------------------------------------------------------


def instance_yaml(home: Path) -> None:
    """The project's instance config, plus one limit: at most one ``ledger_changes`` run at
    a time. Every registration moves the ledger, and each of those runs rebuilds the
    inventory and six exports; without the limit they take every run slot on a two-core
    machine and the registration and apply runs queue behind them for minutes."""
    config = yaml.safe_load(INSTANCE_YAML.read_text(encoding="utf-8"))
    coordinator = config.setdefault("run_coordinator", {}).setdefault("config", {})
    coordinator["tag_concurrency_limits"] = [
        {"key": "dagster/sensor_name", "value": "ledger_changes", "limit": 1}
    ]
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


@contextlib.contextmanager
def dagster_dev_on(tmp_path: Path, db_url: str, landing: Path) -> Iterator[DagsterDev]:
    """``dagster dev`` over the example catalog, every REGISTRY_* folder in ``tmp_path``,
    until its code location is LOADED; torn down by killing its process group."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance_yaml(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        REGISTRY_DATABASE_URL=db_url,
        REGISTRY_CATALOG=str(CATALOG),
        REGISTRY_LANDING=str(landing),
        REGISTRY_DEPLOYMENTS=str(tmp_path / "deployments"),
        REGISTRY_INVENTORY=str(tmp_path / "inventory"),
        REGISTRY_EXPORTS=str(tmp_path / "exports"),
        REGISTRY_HASH_CACHE=str(tmp_path / "hash-cache.db"),
        REGISTRY_SENSORS="running",
        REGISTRY_SENSOR_INTERVAL="2",
        DAGSTER_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
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
            entry = next(e for e in data["locationEntries"] if e["name"] == LOCATION)
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                pytest.fail(f"code location failed to load: {error['message']}", pytrace=False)
            return entry["loadStatus"] == "LOADED" and error is not None

        dev.wait(f"code location {LOCATION!r} to load", loaded, timeout=LOAD_TIMEOUT_S)
        yield dev
    finally:
        tail = dev.tail()
        stop(proc)
        print(f"--- dagster dev log tail before teardown ({log}) ---\n{tail}")


@pytest.fixture
def example_outputs(tmp_path: Path, run_cli: RunCli) -> list[list[Path]]:
    """A fresh registry holding the example catalog (loaded by the admin) and the example
    training outputs, generated per wave under ``tmp_path/outputs``."""
    summary = ok(run_cli("init", "--catalog", str(CATALOG), actor=CAROL, json=True)).json()
    assert summary["entries"] == len(catalog_entries()), summary
    waves: list[list[Path]] = load_generate().generate(tmp_path / "outputs")
    return waves


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def dagster_ui(
    tmp_path: Path, db_url: str, landing: Path, example_outputs: list[list[Path]]
) -> Iterator[DagsterDev]:
    if not DAGSTER.exists():
        unavailable(f"{DAGSTER} not found; run the tests with the project's venv")
    with dagster_dev_on(tmp_path, db_url, landing) as dev:
        yield dev


# -- the browser -----------------------------------------------------------------------------


# Scroll height of the tallest scrolling container: Dagster's pages scroll inside the app
# frame, so a "full page" screenshot first grows the viewport to show all of it.
CONTENT_HEIGHT_JS = """() => {
  let height = document.documentElement.scrollHeight;
  for (const el of document.querySelectorAll('body *')) {
    if (el.scrollHeight > el.clientHeight + 1
        && /(auto|scroll)/.test(getComputedStyle(el).overflowY)) {
      height = Math.max(height, window.innerHeight + el.scrollHeight - el.clientHeight);
    }
  }
  return height;
}"""

NEXT_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"

# The lineage graph as drawn: each asset node is a foreignObject holding the asset's name
# (data-tooltip) and its kind tag; each edge a path with an arrow whose first and last
# points touch its two nodes (SVG coordinates, so independent of the zoom).
GRAPH_JS = """() => {
  const nodes = [];
  for (const fo of document.querySelectorAll('svg foreignObject')) {
    const named = fo.querySelector('[data-tooltip]');
    if (!named) continue;
    const box = fo.firstElementChild;
    nodes.push({name: named.getAttribute('data-tooltip'),
                x: +fo.getAttribute('x'), y: +fo.getAttribute('y'),
                w: +fo.getAttribute('width'), h: +fo.getAttribute('height'),
                text: (box && box.innerText) || fo.textContent});
  }
  const edges = [];
  for (const path of document.querySelectorAll('svg path[marker-end]')) {
    const n = (path.getAttribute('d').match(/-?\\d+(\\.\\d+)?/g) || []).map(Number);
    if (n.length >= 4) edges.push([n[0], n[1], n[n.length - 2], n[n.length - 1]]);
  }
  return {nodes, edges};
}"""


@dataclass
class Screens:
    """Numbered full-page screenshots in one folder."""

    folder: Path
    taken: dict[str, Path] = field(default_factory=dict)

    def shoot(self, page: Any, name: str, *, full: bool = True) -> Path:
        """Save the page, grown to its content's height unless ``full`` is false."""
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        size = dict(page.viewport_size)
        height = min(int(page.evaluate(CONTENT_HEIGHT_JS)), MAX_SHOT_HEIGHT) if full else 0
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": height})
            page.evaluate(NEXT_FRAMES_JS)
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        if height > size["height"]:
            page.set_viewport_size(size)
        self.taken[name] = path
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    with chromium(CHROMIUM_ARGS) as found:
        yield found


@pytest.fixture
def screens(tmp_path: Path) -> Screens:
    """Where the screenshots go: ``<tmp>/artifacts``, or ``$E2E_ARTIFACTS`` to keep them
    (pytest prunes all but its three latest temporary folders)."""
    folder = Path(os.environ.get("E2E_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return Screens(folder)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page of a fresh browser context (UTC, Dagster's welcome dialog dismissed)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=PAGE_VIEWPORT, timezone_id="UTC")
    # Dagster's "Join the community" dialog opens over the first page on localhost.
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


# -- helpers ---------------------------------------------------------------------------------


def visit(page: Any, dev: DagsterDev, path: str) -> None:
    dev.check_alive()
    page.goto(f"http://127.0.0.1:{dev.port}{path}", wait_until="domcontentloaded")


def wait_registered(dev: DagsterDev, registry: Registry, names: list[str]) -> None:
    """Wait until every entry in ``names`` has a version; fail at once on a failed run."""

    def check() -> bool:
        if all(registry.latest_versions(names).values()):
            return True
        failed = runs(dev, statuses=["FAILURE"])
        assert failed == [], failures(dev, failed)
        return False

    dev.wait(f"{', '.join(names)} to be registered", check, timeout=STEP_TIMEOUT_S)


def drawn_graph(page: Any, names: list[str]) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Wait until the nodes ``names`` are drawn with their statuses loaded; return each drawn
    node's text and the edges (source, target) between drawn nodes."""
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        graph = page.evaluate(GRAPH_JS)
        texts = {n["name"]: n["text"] for n in graph["nodes"]}
        if all(n in texts and "Loading" not in texts[n] for n in names):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the graph did not draw {names} with statuses; drawn: {texts}")
        page.wait_for_timeout(POLL_S * 1000)
    nodes = graph["nodes"]

    def node_at(x: float, y: float) -> str | None:
        def distance(n: dict[str, Any]) -> float:
            dx = max(n["x"] - x, 0.0, x - (n["x"] + n["w"]))
            dy = max(n["y"] - y, 0.0, y - (n["y"] + n["h"]))
            return float((dx * dx + dy * dy) ** 0.5)

        nearest = min(nodes, key=distance, default=None)
        return nearest["name"] if nearest and distance(nearest) <= 12 else None

    edges = set()
    for x1, y1, x2, y2 in graph["edges"]:
        source, target = node_at(x1, y1), node_at(x2, y2)
        if source and target:
            edges.add((source, target))
    return texts, edges


def section(text: str, start: str, end: str) -> str:
    """The part of ``text`` between the first ``start`` and the next ``end``."""
    assert start in text, f"{start!r} not shown in:\n{text}"
    after = text.split(start, 1)[1]
    return after.split(end, 1)[0]


# -- the steps -----------------------------------------------------------------------------


def land_the_estate(
    dev: DagsterDev, registry: Registry, waves: list[list[Path]], landing: Path
) -> None:
    """Training outputs land wave by wave (a wave's upstream is registered before it)."""
    for wave in waves:
        for output in wave:
            land(output, landing)
        wait_registered(dev, registry, [output.parent.name for output in wave])


def skip_reason_is_shown(page: Any, dev: DagsterDev, subject: str) -> None:
    """Automation -> promotion_gates: a tick's skip reason names the blocking gate."""
    from playwright.sync_api import expect

    visit(page, dev, "/automation")
    expect(page.get_by_text("training_outputs", exact=True).first).to_be_visible()
    page.get_by_text("promotion_gates", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/sensors/promotion_gates"))
    expect(page.get_by_text("Evaluates the gates of pending promotion requests")).to_be_visible()

    def shown() -> str | None:
        """Open the newest ticks' results until one shows the request's skip reason."""
        ticks = page.locator("tr", has_text="View logs")
        expect(ticks.first).to_be_visible()
        for row in ticks.all()[:5]:
            result = row.locator("td").nth(4).get_by_text("0 runs requested")
            if result.count() == 0:
                continue
            result.first.click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text("Skip reason")
            text = str(dialog.inner_text())
            if subject in text:
                return text
            dialog.get_by_role("button", name="Close").click()
        page.reload(wait_until="domcontentloaded")
        return None

    reason = dev.wait("a promotion_gates tick to show the skip reason", shown)
    assert "approvals: 0 of 1 approval" in reason, reason


def graph_shows_the_catalog(
    page: Any, dev: DagsterDev, entries: dict[str, Entry], screens: Screens
) -> None:
    """Global lineage lists the groups; each workload's group view draws its entries with
    their kinds and exactly the catalog's edges (upstream and stack components)."""
    from playwright.sync_api import expect

    visit(page, dev, "/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    workloads = sorted({e.group for e in entries.values()})
    for group in [*workloads, "registry", "compliance"]:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    for group in workloads:
        count = sum(e.group == group for e in entries.values())
        expect(page.get_by_text(f"{count} assets").first).to_be_visible()
    expect(page.get_by_text("fetching statuses")).to_have_count(0)
    screens.shoot(page, "global-asset-lineage", full=False)

    page.set_viewport_size(GRAPH_VIEWPORT)

    for group in workloads:
        members = sorted(n for n, e in entries.items() if e.group == group)
        visit(page, dev, f"/locations/{LOCATION}/asset-groups/{group}")
        expect(page.get_by_text("Asset Group in")).to_be_visible()
        shown, edges = drawn_graph(page, members)
        for name in members:
            kind = entries[name].kind
            # Dagster writes the kinds it knows capitalised (dataset -> "Dataset").
            assert kind.lower() in shown[name].lower(), f"{name}: no {kind!r} in {shown[name]!r}"
            assert "Materialized" in shown[name], f"{name} not materialized: {shown[name]!r}"
        drawn = {(s, t) for s, t in edges if s in members and t in members}
        declared = {(u, n) for n in members for u in entries[n].upstream}
        assert drawn == declared, f"{group}: drawn {sorted(drawn)}, catalog {sorted(declared)}"
        screens.shoot(page, f"asset-group-{group}", full=False)
    page.set_viewport_size(PAGE_VIEWPORT)


def entry_page_shows_version_card_and_checks(
    page: Any, dev: DagsterDev, registry: Registry, screens: Screens
) -> None:
    """lora_adapter/support-lora: the latest version's metadata, the model card as
    Markdown, upstream and downstream assets, and the checks' pass/fail states."""
    from playwright.sync_api import expect

    digest = registry.show("support-lora@1").to_dict()["digest"]
    visit(page, dev, "/assets/lora_adapter/support-lora")
    expect(
        page.get_by_text("Intended use: Drafting replies to customer tickets").first
    ).to_be_visible()
    expect(page.locator("tr", has_text="Digest (sha256)").first).to_contain_text(digest)
    version = page.locator("tr", has=page.get_by_text("Version", exact=True)).first
    expect(version.locator("td").last).to_have_text("1")
    card = page.locator("tr", has_text="Model card").first.locator(".dagster-markdown")
    expect(card.locator("h1")).to_have_text("support-lora v1")
    expect(card.locator("h2", has_text="Lineage")).to_be_visible()
    expect(card.locator("h2", has_text="Evaluation results")).to_be_visible()
    expect(card).to_contain_text("llama-3.2-1b-instruct@1 (upstream)")
    expect(card).to_contain_text("support-evals@1: accuracy=0.86, hallucination_rate=0.03")
    expect(page.get_by_text("Upstream assets")).to_be_visible()
    text = str(page.locator("body").inner_text())
    upstream = section(text, "Upstream assets", "Downstream assets")
    downstream = section(text, "Downstream assets", "Definition")
    assert "base_model / llama-3.2-1b-instruct" in upstream, upstream
    assert "dataset / support-tickets-2026q3" in upstream, upstream
    assert "stack / support-bot" in downstream, downstream
    assert "registry / ledger" in downstream, downstream
    screens.shoot(page, "entry-support-lora")

    # The checks run the gate code of `registry gates`: evals, license and review pass;
    # nobody has set a card for support-lora@1, so model_card fails.
    gates = {g.name: g for g in registry.readiness("support-lora@1", target="production")}
    assert [gates[n].passed for n in ("evals", "license", "model_card")] == [True, True, False]
    states = {"evals": "Succeeded", "license": "Succeeded", "model_card": "Failed"}
    states["review"] = "Succeeded"
    visit(page, dev, "/assets/lora_adapter/support-lora?view=checks")
    expect(page.get_by_text(f"Checks ({len(states)})")).to_be_visible()
    for check, state in states.items():
        expect(page.get_by_title(check, exact=True).first.locator("xpath=..")).to_contain_text(
            state
        )
    page.get_by_title("model_card", exact=True).first.click()
    expect(page.get_by_text(gates["model_card"].detail).first).to_be_visible()
    screens.shoot(page, "entry-support-lora-checks")


def apply_run_is_listed(page: Any, dev: DagsterDev, run: dict[str, Any], request: int) -> None:
    """Runs: the apply_promotion run the gate sensor launched for ``request``, a success;
    its page's log says where the version went."""
    from playwright.sync_api import expect

    run_id = run["runId"]
    visit(page, dev, "/runs")
    link = page.locator(f"a[href^='/runs/{run_id}']").first
    # The feed's rows are divs: the run's row is the nearest ancestor naming the job.
    row = link.locator("xpath=ancestor::div[contains(normalize-space(.), 'apply_promotion')][1]")
    expect(row).to_contain_text(run_id[:8])
    expect(row).to_contain_text(f"registry/request: {request}")
    expect(row).to_contain_text("promotion_gates")
    expect(row).to_contain_text("Success")


# -- the test --------------------------------------------------------------------------------


def test_the_ui_shows_the_estate_its_gates_and_promotions(
    page: Any,  # first: without a browser, skip before starting dagster dev
    screens: Screens,
    dagster_ui: DagsterDev,
    example_outputs: list[list[Path]],
    landing: Path,
    db_url: str,
    run_cli: RunCli,
) -> None:
    from playwright.sync_api import expect

    dev = dagster_ui
    started = time.monotonic()
    registry = Registry.open(db_url, actor="e2e-observer")
    entries = catalog_entries()
    try:
        land_the_estate(dev, registry, example_outputs, landing)
        print(f"training outputs registered after {time.monotonic() - started:.0f}s")

        # 1. alice asks for support-lora@1 in staging; nobody has approved it yet.
        request = ok(
            run_cli(
                "promote",
                "support-lora@1",
                "--to",
                "staging",
                "--reason",
                "new adapter for the support bot",
                actor=ALICE,
                json=True,
            )
        ).json()["request"]
        subject = f"request {request} (support-lora@1 -> staging) blocked by approvals"
        skip_reason_is_shown(page, dev, subject)
        screens.shoot(page, "promotion-gates-skip-reason", full=False)

        # 2. The stacks assemble; every registration run (checks included) finishes.
        wait_registered(dev, registry, [n for n, e in entries.items() if e.kind == "stack"])

        def registrations_done() -> bool:
            found = runs(dev, pipelineName="register_entries")
            assert all(r["status"] != "FAILURE" for r in found), failures(dev, found)
            return len(found) >= len(entries) and all(r["status"] == "SUCCESS" for r in found)

        dev.wait("every registration run to succeed", registrations_done, timeout=STEP_TIMEOUT_S)
        print(f"estate assembled after {time.monotonic() - started:.0f}s")
        # bob approves through the CLI once the ledger is quiet (see the report: the gate
        # sensor's run_key carries the ledger head, so approving while registrations still
        # move the ledger launches a second apply run that fails); the sensor applies it
        # while the browser looks at the graph.
        ok(run_cli("approve", str(request), "--reason", "evals and lineage reviewed", actor=BOB))
        graph_shows_the_catalog(page, dev, entries, screens)

        # 3. The adapter's page.
        entry_page_shows_version_card_and_checks(page, dev, registry, screens)

        # 4. The apply_promotion run after bob's approval.
        def applied() -> dict[str, Any] | None:
            found = runs(
                dev,
                pipelineName="apply_promotion",
                tags=[{"key": "registry/request", "value": str(request)}],
            )
            assert all(r["status"] != "FAILURE" for r in found), failures(dev, found)
            return next((r for r in found if r["status"] == "SUCCESS"), None)

        run = dev.wait(f"request {request}'s apply_promotion run to succeed", applied)
        assert tag(run, "dagster/sensor_name") == "promotion_gates", run
        assert registry.show("support-lora@1").to_dict()["stage"] == "staging"
        apply_run_is_listed(page, dev, run, request)
        screens.shoot(page, "runs-apply-promotion")
        page.locator(f"a[href^='/runs/{run['runId']}']").first.click()
        expect(page).to_have_url(re.compile(run["runId"]))
        expect(page.get_by_text("support-lora@1 is now in staging").first).to_be_visible()
        screens.shoot(page, "apply-promotion-run")
    except BaseException:
        with contextlib.suppress(Exception):
            screens.shoot(page, "failure")
        raise
    print(f"browser story done in {time.monotonic() - started:.0f}s after the code location loaded")

    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(screens.taken["asset-group-customer_support"], DOCS / "ui-asset-graph.png")
        shutil.copy(screens.taken["entry-support-lora"], DOCS / "ui-entry.png")
        print(f"copied the asset graph and the entry page to {DOCS}")
