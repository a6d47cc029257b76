"""Shared fixtures: the embedded default corpus and its vocabulary, built once."""

from __future__ import annotations

import pathlib

import pytest

import tasks  # noqa: F401  (the SeqIO registrations, which every entry point imports)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def default_data():
    """Builds the default corpus (Debian packages + stdlib) and the 4k vocabulary if missing."""
    from code_in_pretraining.experiments import demo
    from code_in_pretraining.data import paths

    demo.prepare_data(progress=False)
    return paths.default_corpus_dir()


@pytest.fixture(scope="session")
def shards(default_data):
    """Token shards of the demo's `text` and `code` tasks (train split)."""
    from code_in_pretraining.data import materialize

    return {t: materialize.materialize_shards(t, "train", progress=False) for t in ("text", "code")}


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA
