"""Shared fixtures. Slow tests run with ``--runslow`` (CI passes it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Reference files beside the checkout (never committed into the repo).
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_sessionfinish(session, exitstatus):
    """With ATOMDATA_ROBUSTNESS_TALLY set, write the robustness suite's case counts (tests/robust.py)."""
    import robust

    robust.write_tally()


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty ATOMDATA_CACHE, so nothing leaks between tests or from the user."""
    monkeypatch.setenv("ATOMDATA_CACHE", str(tmp_path_factory.mktemp("atomdata-cache")))
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _trust_test_builder(monkeypatch):
    """Registries written by the tests may name the tiny test builder (tests/tiny_dataset.py) besides atomdata's own."""
    from atomdata.sources import registry

    monkeypatch.setitem(registry.TRUSTED_BUILDERS, "tiny_dataset:build", frozenset({"name", "version", "seed"}))


@pytest.fixture
def shared_reference() -> Path:
    """Path of ../shared/reference. Absent: the test fails when the variable CI is set (CI has the folder),
    and is skipped on a developer's machine without it."""
    if not SHARED_REFERENCE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the reference files are not at {SHARED_REFERENCE}")
        pytest.skip(f"reference files not found at {SHARED_REFERENCE}")
    return SHARED_REFERENCE
