"""LLM-as-a-judge: `cip serve` on a tiny checkpoint (conftest), the whole pairwise protocol over real HTTP."""

import json
import random
import urllib.request

import numpy as np
import pytest

from code_in_pretraining.eval import judge, paper_figures


def test_parse_verdict():
    assert judge.parse_verdict("After thought: [[A]]") == "A"
    assert judge.parse_verdict("[[ b ]]") == "B"
    assert judge.parse_verdict("[[C]]") == "C"
    assert judge.parse_verdict("Answer B is better.") == "B"
    assert judge.parse_verdict("It's a tie.") == "C"
    assert judge.parse_verdict("[[A]] no wait [[B]]") is None
    assert judge.parse_verdict("garbage") is None


def test_win_rate_counts_ties_apart_with_a_standard_error_over_prompts():
    outcomes = ["win", "win", "win", "tie", "loss", "loss", "win", "win"]
    recs = [{"prompt": i // 2, "order": "ab" if i % 2 == 0 else "ba", "outcome": o, "unparsed": o == "tie"}
            for i, o in enumerate(outcomes)]
    r = judge.win_rate(recs)
    assert (r["wins"], r["ties"], r["losses"], r["unparsed"], r["judgements"], r["prompts"]) == (5, 1, 2, 1, 8, 4)
    assert (r["win_rate"], r["tie_rate"], r["loss_rate"], r["win_minus_loss"]) == (62.5, 12.5, 25.0, 37.5)
    per_prompt = [1.0, 0.5, 0.0, 1.0]  # wins per prompt, both orders
    assert r["win_rate_se"] == pytest.approx(100 * np.std(per_prompt, ddof=1) / 2)
    assert r["by_order"] == {"ab": {"wins": 3, "ties": 0, "losses": 1, "judgements": 4},
                             "ba": {"wins": 2, "ties": 1, "losses": 1, "judgements": 4}}
    assert judge.win_rate([])["win_rate"] is None


def test_prompts_are_drawn_with_a_fixed_seed_and_bad_records_are_named(tmp_path):
    assert judge.draw(15_011) == judge.draw(15_011) == sorted(random.Random(0).sample(range(15_011), 200))
    assert judge.draw(20) == list(range(20))  # a file of 200 or fewer is used whole
    shipped = judge.load_prompts(judge.SHIPPED_PROMPTS)
    assert len(shipped) == 20 and all(p.strip() for p in shipped)
    bad = tmp_path / "dolly.jsonl"
    bad.write_text('{"instruction": "Say hi.", "context": "", "response": "hi", "category": "open_qa"}\n'
                   '{"response": "no instruction"}\n')
    with pytest.raises(ValueError, match=r"dolly.jsonl:2: no 'instruction', 'prompt' or 'text'"):
        judge.load_prompts(bad)


def test_openai_endpoints(judge_server):
    server = judge_server
    client = judge.OpenAIClient(server, model="tiny")
    text = client.complete("def f(x):", max_tokens=8, stop=["\n"])
    assert isinstance(text, str) and "\n" not in text
    assert isinstance(client.chat([{"role": "user", "content": "hi"}], max_tokens=8), str)
    with urllib.request.urlopen(server + "/models") as r:
        assert json.loads(r.read())["data"][0]["object"] == "model"


def test_whole_protocol_over_http(judge_server, tmp_path):
    server = judge_server
    prompts = [p for p in judge.load_prompts(judge.SHIPPED_PROMPTS) if len(p) < 48]  # one length bucket
    assert len(prompts) == 3
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": p}) for p in prompts))
    assert judge.load_prompts(str(path)) == prompts
    model = judge.OpenAIClient(server)
    a = judge.generate_answers(model, prompts, max_tokens=8, temperature=0.0)
    b = judge.generate_answers(model, prompts, max_tokens=8, temperature=1.0, seed=1)
    records = judge.judge_pairs(prompts, a, b, judge.OpenAIClient(server), max_tokens=8)
    assert len(records) == 2 * len(prompts) == 6
    assert {r["order"] for r in records} == {"ab", "ba"}
    r = judge.win_rate(records)
    assert r["wins"] + r["ties"] + r["losses"] == r["judgements"] == 6
    assert r["ties"] >= r["unparsed"]  # a random tiny model mostly cannot give a verdict
    assert 0.0 <= r["win_rate"] <= 100.0 and r["by_order"]["ab"]["judgements"] == r["by_order"]["ba"]["judgements"]


def _pair(variant, phase, against, against_phase, outcomes: dict[str, int]) -> dict:
    """An entry of win_rates.json from judgement counts, in both orders of each prompt."""
    flat = [o for o, n in outcomes.items() for _ in range(n)]
    records = [{"prompt": i // 2, "order": "ab" if i % 2 == 0 else "ba", "outcome": o, "unparsed": False}
               for i, o in enumerate(flat)]
    setup = {"prompts": {"file": "databricks-dolly-15k.jsonl", "sha256": "0" * 12, "records": 15011,
                         "drawn": len(records) // 2, "seed": 0, "dolly": True},
             "max_tokens": 256, "judge": {"url": "http://judge/v1", "model": "judge"}}
    return {"variant": variant, "phase": phase, "against": against, "against_phase": against_phase, "kind": "",
            **judge.win_rate(records), "paper": paper_figures.WIN_RATES.get((variant, phase, against, against_phase)),
            "setup": setup}


def test_the_papers_win_rate_findings_are_measured_on_the_same_pairs():
    from code_in_pretraining.eval import findings, win_rate_report

    # 1,000 judgements each: wins − losses = 6.6% (balanced→text after phase 2 against text-only), and
    # 52.3% won (a cooldown with code against none): the paper's figures.
    pairs = [_pair("balanced_to_text", "continued", "text_only", "pretrain", {"win": 400, "tie": 266, "loss": 334}),
             _pair("cooldown_with_code", "cooldown", "cooldown_with_code", "continued",
                   {"win": 523, "tie": 77, "loss": 400})]
    measured = {f["finding"]: f for f in win_rate_report.findings(pairs)}
    gain = measured["Win-rate gain, balanced→text after phase 2 vs text-only (wins − losses, points of judgements)"]
    cooldown = measured["Win-rate of a cooldown with code vs no cooldown (% of judgements won)"]
    assert (gain["ours"], gain["paper"]) == (pytest.approx(6.6), 6.6)
    assert (cooldown["ours"], cooldown["paper"]) == (pytest.approx(52.3), 52.3)
    assert gain["lo"] < 0 < gain["hi"]  # ± 1.96 x 3.8 points: not a gain these judgements can tell
    assert win_rate_report.findings([])[-1]["missing"]  # not run
    md = findings.markdown([], win_rate_report.findings(pairs))
    assert "| +6.6pp [-0.9, +14.1]† | +6.6pp |" in md and "| 52.3% won [" in md
    title, table, note = win_rate_report.sections({"results": {}, "win_rates": pairs})
    assert title == "## Win-rates (LLM-as-a-judge)"
    assert ("| balanced→text, after phase 2 | text-only | 1000 | 400 | 266 | 334 | 40.0 ± 2.2 | 6.6 ± 3.8 | "
            "wins − losses +6.6 |") in table
    assert "500 of the 15011 records of databricks-dolly-15k.jsonl" in note and "both orders" in note
