"""LLM-as-a-judge: `cip serve` on a tiny checkpoint, the whole pairwise protocol over real HTTP."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from flax import nnx

from code_in_pretraining.eval import judge
from code_in_pretraining.model.config import get_preset
from code_in_pretraining.model.decoder import Decoder
from code_in_pretraining.train import checkpoint


def test_parse_verdict():
    assert judge.parse_verdict("After thought: [[A]]") == "A"
    assert judge.parse_verdict("[[ b ]]") == "B"
    assert judge.parse_verdict("[[C]]") == "C"
    assert judge.parse_verdict("Answer B is better.") == "B"
    assert judge.parse_verdict("It's a tie.") == "C"
    assert judge.parse_verdict("[[A]] no wait [[B]]") is None
    assert judge.parse_verdict("garbage") is None


def test_win_rate_counts_ties_half_and_bootstraps():
    recs = [{"prompt": i // 2, "outcome": o, "unparsed": o == "tie"}
            for i, o in enumerate(["win", "win", "win", "tie", "loss", "loss", "win", "win"])]
    r = judge.win_rate(recs, bootstrap=500)
    assert r["win_rate"] == pytest.approx(5.5 / 8)
    assert (r["wins"], r["ties"], r["losses"], r["unparseable"]) == (5, 1, 2, 1)
    assert 0.0 <= r["ci_low"] <= r["win_rate"] <= r["ci_high"] <= 1.0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`cip serve` in a subprocess on a tiny random checkpoint (byte tokenizer)."""
    workdir = tmp_path_factory.mktemp("served")
    cfg = get_preset("tiny", vocab_size=258, d_model=64, n_heads=4, head_dim=16, mlp_dim=96, max_seq_len=256)
    checkpoint.save_model(workdir, Decoder(cfg, rngs=nnx.Rngs(0)))
    port = _free_port()
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
    assert proc.returncode is not None


def test_openai_endpoints(server):
    client = judge.OpenAIClient(server, model="tiny")
    text = client.complete("def f(x):", max_tokens=8, stop=["\n"])
    assert isinstance(text, str) and "\n" not in text
    assert isinstance(client.chat([{"role": "user", "content": "hi"}], max_tokens=8), str)
    with urllib.request.urlopen(server + "/models") as r:
        assert json.loads(r.read())["data"][0]["object"] == "model"


def test_whole_protocol_over_http(server, tmp_path):
    prompts = list(judge.TEST_PROMPTS)
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": p}) for p in prompts))
    assert judge.load_prompts(str(path)) == prompts
    model = judge.OpenAIClient(server)
    a = judge.generate_answers(model, prompts, max_tokens=8, temperature=0.0)
    b = judge.generate_answers(model, prompts, max_tokens=8, temperature=1.0, seed=1)
    records = judge.judge_pairs(prompts, a, b, judge.OpenAIClient(server), max_tokens=8)
    assert len(records) == 2 * len(prompts)
    assert {r["order"] for r in records} == {"ab", "ba"}
    r = judge.win_rate(records, bootstrap=200)
    assert r["wins"] + r["ties"] + r["losses"] == r["judgments"] == 8
    assert r["ties"] >= r["unparseable"]  # a random tiny model mostly cannot give a verdict
    assert 0.0 <= r["ci_low"] <= r["win_rate"] <= r["ci_high"] <= 1.0
