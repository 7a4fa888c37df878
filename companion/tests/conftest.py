import os

import pytest


@pytest.fixture(autouse=True)
def _results_to_tmp(tmp_path, monkeypatch):
    """No test ever writes into the committed book/results/."""
    monkeypatch.setenv("NEUROVIS_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield
