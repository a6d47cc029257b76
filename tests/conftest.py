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


@pytest.fixture(scope="session")
def judge_server(tmp_path_factory):
    """`cip serve` in a subprocess on a tiny random checkpoint (byte tokenizer): an OpenAI-compatible
    endpoint over real HTTP, for the judge tests; its base URL (".../v1")."""
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from flax import nnx

    from code_in_pretraining.model.config import get_preset
    from code_in_pretraining.model.decoder import Decoder
    from code_in_pretraining.train import checkpoint

    cfg = get_preset("tiny", vocab_size=258, d_model=64, n_heads=4, head_dim=16, mlp_dim=96, max_seq_len=256)
    workdir = checkpoint.save_model(tmp_path_factory.mktemp("served"), Decoder(cfg, rngs=nnx.Rngs(0)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "code_in_pretraining.cli", "serve", "--checkpoint", str(workdir),
                             "--port", str(port), "--tokenizer", "bytes"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:
                if json.loads(r.read())["status"] == "ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"cip serve did not start: {proc.stdout.read()[-2000:]}")
        time.sleep(0.5)
    yield base + "/v1"
    proc.terminate()
    proc.wait(timeout=30)
