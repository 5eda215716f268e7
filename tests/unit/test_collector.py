"""Loading the definitions pauses the cyclic collector and always resumes it."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from registry_pipeline._collector import collector_paused


def test_the_collector_resumes_and_what_was_built_is_frozen() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        built = [[n] for n in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)
    gc.unfreeze()


def test_the_collector_resumes_after_a_failure() -> None:
    with pytest.raises(ValueError, match="bad"), collector_paused():
        raise ValueError("bad")
    assert gc.isenabled()
    gc.unfreeze()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_importing_and_building_the_definitions_leaves_the_collector_on(tmp_path) -> None:
    code = (
        "import gc; from registry_pipeline.definitions import defs; a = gc.isenabled(); "
        "defs(); print(a, gc.isenabled(), gc.get_freeze_count() > 100_000)"
    )
    env = {"REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}", "PATH": ""}
    from conftest import EXAMPLES

    env["REGISTRY_CATALOG"] = str(EXAMPLES)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_what_is_loaded_is_frozen_once_collected() -> None:
    from registry_pipeline._collector import freeze_what_is_loaded

    freeze_what_is_loaded()
    try:
        assert gc.get_freeze_count() > 1000
        assert gc.isenabled()
    finally:
        gc.unfreeze()
