"""The MLflow importer against a real MLflow registry (SQLite tracking store, local
artifacts): versions with artifact or descriptor digests, stage holders from stages and
aliases, ledger events marked imported, idempotence, and the reviewed-catalog rule."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry_pipeline.catalog import load_catalog
from registry_pipeline.core.digests import digest_of_document
from registry_pipeline.errors import BadInput, NotFound, Step
from registry_pipeline.importers import entry_name, import_mlflow, write_catalog_snippet
from registry_pipeline.importers.mlflow import DESCRIPTOR_FORMAT, INSTALL_HINT
from registry_pipeline.service import Registry
from registry_pipeline.sources import read_source
from registry_pipeline.store import ledger

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    import mlflow  # CI installs the extra: a missing mlflow must fail there, not skip
else:
    mlflow = pytest.importorskip(
        "mlflow", reason="mlflow is an optional extra: pip install 'registry-pipeline[mlflow]'"
    )
from mlflow import MlflowClient

pytestmark = [
    pytest.mark.integration,
    # MLflow's own SQL store, not this project, uses the deprecated loader.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

FRAUD, CHURN = "Fraud Detector", "Churn Scorer"
CATALOG = """
entries:
  fraud-detector:
    kind: classifier
    owner: risk-ml@example.com
    license: apache-2.0
  churn-scorer:
    kind: classifier
    owner: growth@example.com
policy:
  approvers: [alice@example.com, bob@example.com]
  admins: [carol@example.com]
  registrars: [importer@example.com]
  stages:
    staging: {approvals: 1}
    production: {approvals: 2}
"""


class Estate:
    """The MLflow side of a test: its URI, client, runs and artifact folders."""

    def __init__(self, root: Path) -> None:
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self.client: Any = MlflowClient(tracking_uri=self.uri)
        self.root = root
        self.runs: dict[str, Any] = {}

    def run(self, experiment: str, key: str, params: dict[str, str], files: dict[str, str]) -> Any:
        """A finished run with ``params`` and a ``model`` artifact folder of ``files``."""
        found = self.client.get_experiment_by_name(experiment)
        exp_id = (
            found.experiment_id
            if found
            else self.client.create_experiment(
                experiment, artifact_location=(self.root / "artifacts" / experiment).as_uri()
            )
        )
        run = self.client.create_run(exp_id)
        for name, value in params.items():
            self.client.log_param(run.info.run_id, name, value)
        local = self.root / "staging-area" / key
        for rel, text in files.items():
            (local / rel).parent.mkdir(parents=True, exist_ok=True)
            (local / rel).write_text(text)
        self.client.log_artifacts(run.info.run_id, str(local), artifact_path="model")
        self.client.set_terminated(run.info.run_id)
        self.runs[key] = self.client.get_run(run.info.run_id)
        return self.runs[key]

    def model_dir(self, key: str) -> Path:
        """The local folder of a run's ``model`` artifacts."""
        uri = self.runs[key].info.artifact_uri
        assert uri.startswith("file://"), uri
        return Path(uri[len("file://") :]) / "model"

    def transition(self, name: str, version: int, stage: str) -> None:
        """Set a deprecated MLflow stage (quietly: its FutureWarning is expected)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.client.transition_model_version_stage(
                name, str(version), stage, archive_existing_versions=False
            )


HAS_STAGES = hasattr(MlflowClient, "transition_model_version_stage")


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Estate:
    """Two registered models in a fresh MLflow registry.

    Fraud Detector (local artifacts): v1 an absolute path, Archived; v2 a ``runs:/`` URI,
    Production; v3 a ``file://`` URI, also Production. Churn Scorer (remote sources, so
    descriptor digests): v1 Production, v2 alias ``champion``, v3 Staging.
    """
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "mlflow"
    root.mkdir()
    e = Estate(root)
    c = e.client
    e.run("fraud", "f1", {"lr": "0.1", "epochs": "3"}, {"weights.bin": "w1", "MLmodel": "m"})
    e.run("fraud", "f2", {"lr": "0.01", "epochs": "5"}, {"weights.bin": "w2", "MLmodel": "m"})
    e.run("fraud", "f3", {"lr": "0.01", "epochs": "9"}, {"weights.bin": "w3", "MLmodel": "m"})
    e.run("churn", "c1", {"depth": "6"}, {"model.pkl": "c1"})
    c.create_registered_model(
        FRAUD, tags={"owner": "risk-ml@example.com"}, description="Card fraud classifier"
    )
    c.create_model_version(
        FRAUD,
        str(e.model_dir("f1")),
        run_id=e.runs["f1"].info.run_id,
        tags={"dataset": "tx-2026q1"},
        description="first cut",
    )
    c.create_model_version(
        FRAUD, f"runs:/{e.runs['f2'].info.run_id}/model", run_id=e.runs["f2"].info.run_id
    )
    c.create_model_version(
        FRAUD, f"{e.runs['f3'].info.artifact_uri}/model", run_id=e.runs["f3"].info.run_id
    )
    c.create_registered_model(
        CHURN, tags={"registry.kind": "reranker"}, description="Predicts churn"
    )
    c.create_model_version(CHURN, "s3://models/churn/1", run_id=e.runs["c1"].info.run_id)
    c.create_model_version(CHURN, "s3://models/churn/2", tags={"approved": "yes"})
    c.create_model_version(CHURN, "s3://models/churn/3")
    if HAS_STAGES:
        e.transition(FRAUD, 1, "Archived")
        e.transition(FRAUD, 2, "Production")
        e.transition(FRAUD, 3, "Production")
        e.transition(CHURN, 1, "Production")
        e.transition(CHURN, 3, "Staging")
    c.set_registered_model_alias(CHURN, "champion", "2")
    return e


@pytest.fixture
def registry(tmp_path: Path, db_url: str) -> Registry:
    """Our registry with a catalog that declares both mapped entries."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    Registry.init(db_url, catalog=catalog, actor="carol@example.com")
    return Registry.open(db_url, actor="importer@example.com")


def _events(registry: Registry) -> list[Any]:
    with registry.store.read() as conn:
        return list(ledger.events(conn))


def _holders(registry: Registry) -> dict[str, tuple[int | None, int | None]]:
    return {
        e["entry"]: (e["staging"], e["production"])
        for e in [_r.to_dict() for _r in registry.list_entries()]
    }


def test_entry_names_follow_the_documented_rule() -> None:
    assert entry_name("Fraud Detector") == "fraud-detector"
    assert entry_name("  Churn__Model v2.1 ") == "churn__model-v2.1"
    assert entry_name("a//b..c--d") == "a-b.c-d"
    assert entry_name("-Été-") == "t"
    assert len(entry_name("x" * 300)) == 128
    with pytest.raises(BadInput, match="maps to no valid entry name"):
        entry_name("???")


def test_import_brings_versions_digests_stages_and_origin(
    estate: Estate, registry: Registry
) -> None:
    before = registry.ledger_head().to_dict()["seq"]
    report = import_mlflow(registry, tracking_uri=estate.uri)

    assert report.models == {CHURN: "churn-scorer", FRAUD: "fraud-detector"}
    got = {(v.entry, v.mlflow_version): v for v in report.imported}
    assert sorted(got) == [("churn-scorer", n) for n in (1, 2, 3)] + [
        ("fraud-detector", n) for n in (1, 2, 3)
    ]
    assert report.skipped == []
    # Oldest first, so MLflow's numbers carry over into a fresh entry.
    assert all(v.version == v.mlflow_version for v in report.imported)

    # Local sources (a path, runs:/, file://) are hashed; remote ones get a descriptor.
    for n in (1, 2, 3):
        fraud = got[("fraud-detector", n)]
        assert fraud.digest_basis == "artifacts"
        assert fraud.digest == read_source(estate.model_dir(f"f{n}")).digest
        assert registry.show(f"fraud-detector@{n}").to_dict()["file_count"] == 2
        churn = got[("churn-scorer", n)]
        assert churn.digest_basis == "descriptor"
        descriptor = {
            "system": "mlflow",
            "tracking_uri": estate.uri,
            "name": CHURN,
            "version": n,
            "source": f"s3://models/churn/{n}",
            "run_id": estate.runs["c1"].info.run_id if n == 1 else None,
        }
        assert churn.digest == digest_of_document(descriptor, format_name=DESCRIPTOR_FORMAT)

    first = registry.show("fraud-detector@1").to_dict()
    assert first["params"]["tags"] == {"dataset": "tx-2026q1"}
    assert first["params"]["description"] == "first cut"
    assert first["params"]["run_id"] == estate.runs["f1"].info.run_id
    assert first["params"]["run_params"] == {"lr": "0.1", "epochs": "3"}
    assert registry.show("churn-scorer@1").to_dict()["params"]["run_params"] == {"depth": "6"}
    assert "run_params" not in registry.show("churn-scorer@2").to_dict()["params"]

    events = [e for e in _events(registry) if e.seq > before]
    imports = [e for e in events if e.action == "version.import"]
    assert len(imports) == 6
    for event in imports:
        assert event.payload["imported"] is True
        origin = event.payload["origin"]
        assert origin["system"] == "mlflow"
        assert origin["tracking_uri"] == estate.uri
        assert origin["registered_model"] in (FRAUD, CHURN)
        assert origin["digest_basis"] in ("artifacts", "descriptor")
        assert origin["creation_timestamp"].endswith("Z")
    fraud2 = next(e for e in imports if e.subject == "fraud-detector@2")
    assert fraud2.payload["origin"]["source"].startswith("runs:/")
    assert fraud2.payload["origin"]["digest_basis"] == "artifacts"
    assert fraud2.payload["origin"]["run_id"] == estate.runs["f2"].info.run_id

    stage_events = [e for e in events if e.action == "stage.import"]
    assert all(e.payload["imported"] is True for e in stage_events)
    assert all(e.payload["origin"]["system"] == "mlflow" for e in stage_events)
    if HAS_STAGES:
        # Two Production versions: the latest holds it, the report says so.
        assert _holders(registry)["fraud-detector"] == (None, 3)
        assert registry.show("fraud-detector@1").to_dict()["stage"] == "archived"
        assert registry.show("fraud-detector@2").to_dict()["stage"] == "candidate"
        assert any("v2, v3 in Production" in w for w in report.warnings)
        # The alias wins over the deprecated Production stage of v1.
        assert _holders(registry)["churn-scorer"] == (3, 2)
        assert registry.show("churn-scorer@1").to_dict()["stage"] == "candidate"
        assert any("alias 'champion' names v2" in w for w in report.warnings)
        bases = {(s["entry"], s["stage"]): s["basis"] for s in report.stages}
        assert bases == {
            ("fraud-detector", "archived"): "stage:Archived",
            ("fraud-detector", "production"): "stage:Production",
            ("churn-scorer", "production"): "alias:champion",
            ("churn-scorer", "staging"): "stage:Staging",
        }
        assert len(stage_events) == 4
    else:
        assert _holders(registry)["churn-scorer"] == (None, 2)

    assert registry.verify().to_dict()["ok"] is True


def test_second_run_changes_nothing(estate: Estate, registry: Registry) -> None:
    first = import_mlflow(registry, tracking_uri=estate.uri)
    head = registry.ledger_head().to_dict()
    holders = _holders(registry)

    again = import_mlflow(registry, tracking_uri=estate.uri)

    assert registry.ledger_head().to_dict() == head
    assert again.imported == []
    assert again.stages == []
    assert again.changed is False
    assert sorted(again.skipped, key=str) == sorted(first.imported, key=str)
    assert _holders(registry) == holders
    assert registry.verify().to_dict()["ok"] is True


def test_changes_in_mlflow_are_brought_on_the_next_run(estate: Estate, registry: Registry) -> None:
    import_mlflow(registry, tracking_uri=estate.uri)
    estate.client.set_registered_model_alias(FRAUD, "champion", "1")
    estate.client.create_model_version(CHURN, "s3://models/churn/4")
    head = registry.ledger_head().to_dict()["seq"]

    report = import_mlflow(registry, tracking_uri=estate.uri)

    assert [(v.entry, v.version) for v in report.imported] == [("churn-scorer", 4)]
    assert [(s["entry"], s["version"], s["stage"]) for s in report.stages] == [
        ("fraud-detector", 1, "production")
    ]
    assert _holders(registry)["fraud-detector"][1] == 1
    if HAS_STAGES:
        # The version it displaced leaves production the registry's way: archived.
        assert report.stages[0]["previous"] == 3
        assert registry.show("fraud-detector@3").to_dict()["stage"] == "archived"
    new = [e.action for e in _events(registry) if e.seq > head]
    assert sorted(new) == ["stage.import", "version.import"]
    assert registry.verify().to_dict()["ok"] is True


def test_content_already_registered_here_is_mapped_not_duplicated(
    estate: Estate, registry: Registry
) -> None:
    native = registry.register("fraud-detector", estate.model_dir("f2"))
    report = import_mlflow(registry, tracking_uri=estate.uri, models=[FRAUD])

    [same] = report.skipped
    assert (same.mlflow_version, same.version) == (2, native.version)
    assert any("same content as fraud-detector@1" in w for w in report.warnings)
    assert [(v.mlflow_version, v.version) for v in report.imported] == [(1, 2), (3, 3)]
    if HAS_STAGES:
        assert _holders(registry)["fraud-detector"] == (None, 3)
    head = registry.ledger_head().to_dict()
    assert import_mlflow(registry, tracking_uri=estate.uri, models=[FRAUD]).changed is False
    assert registry.ledger_head().to_dict() == head


def test_logged_model_sources_are_hashed_and_lost_runs_are_reported(
    estate: Estate, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's SQL registry store looks a logged model up through the global client.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", estate.uri)
    c = estate.client
    logged = c.create_logged_model(c.get_experiment_by_name("fraud").experiment_id, name="m")
    files = tmp_path / "logged"
    files.mkdir()
    (files / "weights.bin").write_text("logged model")
    c.log_model_artifacts(logged.model_id, str(files))
    c.create_model_version(FRAUD, f"models:/{logged.model_id}")
    c.create_model_version(FRAUD, "s3://models/fraud/5", run_id="0" * 32)

    report = import_mlflow(registry, tracking_uri=estate.uri, models=[FRAUD])

    by_version = {v.mlflow_version: v for v in report.imported}
    assert by_version[4].digest_basis == "artifacts"
    assert by_version[4].digest == read_source(files).digest
    assert by_version[5].digest_basis == "descriptor"
    assert any(f"run {'0' * 32} is not in the tracking store" in w for w in report.warnings)
    assert registry.show("fraud-detector@5").to_dict()["params"]["run_id"] == "0" * 32


def test_only_the_named_models_are_imported(estate: Estate, registry: Registry) -> None:
    report = import_mlflow(registry, tracking_uri=estate.uri, models=["fraud-detector"])
    assert report.models == {FRAUD: "fraud-detector"}
    assert registry.latest_versions(["fraud-detector", "churn-scorer"]) == {
        "fraud-detector": 3,
        "churn-scorer": None,
    }
    with pytest.raises(NotFound, match="'Nope'"):
        import_mlflow(registry, tracking_uri=estate.uri, models=["Nope"])


def test_models_missing_from_the_catalog_are_listed_and_drafted(
    estate: Estate, tmp_path: Path, db_url: str
) -> None:
    estate.client.create_registered_model("Scratch Model!")
    base = tmp_path / "catalog"
    base.mkdir()
    (base / "main.yaml").write_text(
        "entries:\n  fraud-detector: {kind: classifier, owner: risk-ml@example.com}\n"
        "policy: {registrars: [importer@example.com]}\n"
    )
    Registry.init(db_url, catalog=base, actor="carol@example.com")
    registry = Registry.open(db_url, actor="importer@example.com")
    head = registry.ledger_head().to_dict()

    with pytest.raises(BadInput) as caught:
        import_mlflow(registry, tracking_uri=estate.uri)
    message = str(caught.value)
    assert "'Churn Scorer' -> churn-scorer" in message
    assert "'Scratch Model!' -> scratch-model" in message
    assert "fraud-detector" not in message
    assert caught.value.step is Step.DRAFT_CATALOG
    assert registry.ledger_head().to_dict() == head

    snippet = base / "mlflow.yaml"
    drafted = write_catalog_snippet(registry, snippet, tracking_uri=estate.uri)
    assert drafted == ["churn-scorer", "scratch-model"]
    assert registry.ledger_head().to_dict() == head
    text = snippet.read_text()
    assert "owner: unknown@example.com  # PLACEHOLDER" in text
    document = yaml.safe_load(text)
    assert document["entries"]["churn-scorer"] == {
        "kind": "reranker",
        "owner": "unknown@example.com",
        "description": "Predicts churn",
        "tags": {"mlflow.registered_model": CHURN},
    }
    assert document["entries"]["scratch-model"]["kind"] == "classifier"
    catalog, _ = load_catalog(snippet)
    assert sorted(catalog.entries) == ["churn-scorer", "scratch-model"]

    with pytest.raises(BadInput, match="already exists"):
        write_catalog_snippet(registry, snippet, tracking_uri=estate.uri)

    # Reviewed and loaded, the drafted entries let the import run.
    Registry.init(db_url, catalog=base, actor="carol@example.com")
    report = import_mlflow(registry, tracking_uri=estate.uri)
    assert len(report.imported) == 6
    assert registry.verify().to_dict()["ok"] is True


def test_a_missing_tracking_store_is_not_created(tmp_path: Path, registry: Registry) -> None:
    missing = tmp_path / "nope" / "mlflow.db"
    with pytest.raises(NotFound, match="no MLflow store"):
        import_mlflow(registry, tracking_uri=f"sqlite:///{missing}")
    assert not missing.exists()


def test_without_mlflow_the_import_says_how_to_install_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(BadInput) as caught:
        import_mlflow(registry, tracking_uri="sqlite:///whatever.db")
    assert str(caught.value) == INSTALL_HINT


def test_the_cli_imports_and_reruns_idempotently(
    estate: Estate, registry: Registry, run_cli: Any
) -> None:
    importer = "importer@example.com"
    refused = run_cli("import", "mlflow", "--tracking-uri", estate.uri, actor="bob@example.com")
    assert refused.code == 5
    assert "needs admin or registrar" in refused.stderr
    first = run_cli("import", "mlflow", "--tracking-uri", estate.uri, json=True, actor=importer)
    assert first.code == 0, first.stderr
    imported = first.json()["imported"]
    assert imported
    again = run_cli("import", "mlflow", "--tracking-uri", estate.uri, json=True, actor=importer)
    assert again.code == 0, again.stderr
    assert again.json()["imported"] == []
    assert again.json()["changed"] is False
    missing = run_cli("import", "mlflow", "--tracking-uri", "sqlite:////nonexistent/mlflow.db")
    assert missing.code == 3
    assert missing.stderr.count("\n") == 1
