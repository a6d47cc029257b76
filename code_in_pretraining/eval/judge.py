"""Generative quality as in the paper: LLM-as-a-judge pairwise win-rates.

For every prompt the judge sees both answers twice, once in each order (to
cancel position bias). A verdict is [[A]], [[B]] or [[C]] (tie); answers the
judge gives that we cannot parse count as ties and are reported. Wins, ties and
losses are counted apart: win rate = wins / judgements, with its standard error
over prompts (a prompt's two judgements are one sample).

The paper uses the English Dolly-200 prompts; they are not shipped here, so
`load_prompts` takes a file path or URL (JSON Lines with "instruction"/"prompt" and
optional "context", as databricks-dolly-15k.jsonl, or plain text, one prompt per
line) and `draw` takes 200 of them with a fixed seed. `SHIPPED_PROMPTS` are 20
instructions written for this project in Dolly's fields, not Dolly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import random
import re
import statistics
import urllib.request

SHIPPED_PROMPTS = pathlib.Path(__file__).parent / "prompts" / "instructions.jsonl"  # written here; NOT Dolly
DOLLY_PROMPTS, DOLLY_SEED = 200, 0  # the paper's Dolly-200: 200 prompts, drawn with a fixed seed

JUDGE_TEMPLATE = """You are comparing two answers to the same user prompt. Judge which answer is more helpful, \
correct and well written. Reply with exactly one verdict: [[A]] if answer A is better, [[B]] if answer B is \
better, or [[C]] for a tie.

[Prompt]
{prompt}

[Answer A]
{a}

[Answer B]
{b}

Verdict:"""

_BRACKET = re.compile(r"\[\[\s*([ABC])\s*\]\]", re.IGNORECASE)
_WORDS = re.compile(r"\b(?:answer|output|assistant)\s*\(?([AB])\)?\s+is\s+better\b", re.IGNORECASE)


@dataclasses.dataclass
class OpenAIClient:
    """Chat / text completions over HTTP against any OpenAI-compatible server."""

    base_url: str
    model: str = "default"
    api_key: str | None = None
    timeout_s: float = 120.0

    @classmethod
    def from_env(cls, prefix: str = "CIP_JUDGE", **overrides) -> "OpenAIClient":
        """<prefix>_BASE_URL, <prefix>_MODEL, <prefix>_API_KEY (or OPENAI_API_KEY / OPENAI_BASE_URL)."""
        env = {"base_url": os.environ.get(f"{prefix}_BASE_URL") or os.environ.get("OPENAI_BASE_URL"),
               "model": os.environ.get(f"{prefix}_MODEL"),
               "api_key": os.environ.get(f"{prefix}_API_KEY") or os.environ.get("OPENAI_API_KEY")}
        kw = {k: v for k, v in {**env, **overrides}.items() if v is not None}
        if "base_url" not in kw:
            raise ValueError(f"set {prefix}_BASE_URL (or pass a base URL)")
        return cls(**kw)

    def _post(self, route: str, body: dict) -> dict:
        req = urllib.request.Request(self.base_url.rstrip("/") + route, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())

    def chat(self, messages: list[dict], *, max_tokens: int = 256, temperature: float = 0.0, seed: int = 0) -> str:
        out = self._post("/chat/completions", {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                               "temperature": temperature, "seed": seed})
        return out["choices"][0]["message"]["content"] or ""

    def complete(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0, stop=None,
                 seed: int = 0) -> str:
        out = self._post("/completions", {"model": self.model, "prompt": prompt, "max_tokens": max_tokens,
                                           "temperature": temperature, "stop": stop, "seed": seed})
        return out["choices"][0]["text"]


def load_prompts(path_or_url: str, limit: int | None = None) -> list[str]:
    """The prompts of a file or URL: a .json/.jsonl name holds one JSON record per line ("instruction",
    "prompt" or "text", and an optional "context" appended after a blank line), any other one
    prompt per line. A record without a prompt is an error naming the file and line."""
    path_or_url = str(path_or_url)
    if re.match(r"^https?://", path_or_url):
        with urllib.request.urlopen(path_or_url, timeout=60) as resp:
            text = resp.read().decode("utf-8")
    else:
        text = pathlib.Path(path_or_url).read_text(encoding="utf-8")
    records = re.search(r"\.jsonl?(\?.*)?$", path_or_url) is not None
    prompts = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if not records:
            prompts.append(line.strip())
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path_or_url}:{n}: not a JSON record ({e})") from None
        p = (r.get("instruction") or r.get("prompt") or r.get("text")) if isinstance(r, dict) else None
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"{path_or_url}:{n}: no 'instruction', 'prompt' or 'text' in the record")
        prompts.append(f"{p}\n\n{r['context']}" if r.get("context") else p)
    return prompts[:limit] if limit else prompts


def draw(n_prompts: int, n: int = DOLLY_PROMPTS, seed: int = DOLLY_SEED) -> list[int]:
    """Which prompts of a file of `n_prompts` a judgement uses: `n` of them drawn without replacement by
    random.Random(seed).sample, listed in file order; a file of `n` or fewer is used whole."""
    if n_prompts <= n:
        return list(range(n_prompts))
    return sorted(random.Random(seed).sample(range(n_prompts), n))


def parse_verdict(text: str) -> str | None:
    """'A', 'B', 'C' (tie) or None when the judge's answer cannot be read."""
    found = {m.upper() for m in _BRACKET.findall(text or "")}
    if len(found) == 1:
        return found.pop()
    if found:
        return None  # contradictory verdicts
    words = {m.upper() for m in _WORDS.findall(text or "")}
    if len(words) == 1:
        return words.pop()
    if re.search(r"\b(tie|equally good|both equally)\b", text or "", re.IGNORECASE):
        return "C"
    return None


def judge_pairs(prompts, answers_a, answers_b, judge: OpenAIClient, *, max_tokens: int = 64) -> list[dict]:
    """Two judgments per prompt (A first, then B first), each mapped back to model A's view."""
    records = []
    for i, (p, a, b) in enumerate(zip(prompts, answers_a, answers_b, strict=True)):
        for order, (first, second) in (("ab", (a, b)), ("ba", (b, a))):
            raw = judge.chat([{"role": "user", "content": JUDGE_TEMPLATE.format(prompt=p, a=first, b=second)}],
                             max_tokens=max_tokens, temperature=0.0)
            v = parse_verdict(raw)
            if v is None or v == "C":
                outcome = "tie"
            else:
                a_won = (v == "A") == (order == "ab")
                outcome = "win" if a_won else "loss"
            records.append({"prompt": i, "order": order, "verdict": v, "outcome": outcome,
                            "unparsed": v is None, "raw": raw[:500]})
    return records


def win_rate(records: list[dict]) -> dict:
    """Model A's judgements counted apart (wins, ties, losses; unparsed verdicts are ties, and counted),
    overall and per order ("ab": A shown first); rates in % of judgements: win rate, tie and loss
    rates, wins − losses, the first and last with a standard error over prompts (a prompt's
    judgements in both orders are one sample, so the error says how much the prompts drawn matter);
    None where there are no judgements (or, for an error, fewer than two prompts)."""
    by_prompt: dict[int, list[str]] = {}
    for r in records:
        by_prompt.setdefault(r["prompt"], []).append(r["outcome"])
    n = len(records)

    def counts(rs) -> dict:
        return {"wins": sum(r["outcome"] == "win" for r in rs), "ties": sum(r["outcome"] == "tie" for r in rs),
                "losses": sum(r["outcome"] == "loss" for r in rs), "judgements": len(rs)}

    def rate_and_se(score: dict[str, int]) -> tuple[float | None, float | None]:
        per_prompt = [statistics.fmean(score[o] for o in outs) for outs in by_prompt.values()]
        rate = 100 * sum(score[r["outcome"]] for r in records) / n if n else None
        se = 100 * statistics.stdev(per_prompt) / math.sqrt(len(per_prompt)) if len(per_prompt) > 1 else None
        return rate, se

    total = counts(records)
    win, win_se = rate_and_se({"win": 1, "tie": 0, "loss": 0})
    diff, diff_se = rate_and_se({"win": 1, "tie": 0, "loss": -1})
    return {**total, "prompts": len(by_prompt), "unparsed": sum(r["unparsed"] for r in records),
            "win_rate": win, "win_rate_se": win_se,
            "tie_rate": 100 * total["ties"] / n if n else None,
            "loss_rate": 100 * total["losses"] / n if n else None,
            "win_minus_loss": diff, "win_minus_loss_se": diff_se,
            "by_order": {o: counts([r for r in records if r["order"] == o]) for o in ("ab", "ba")}}


def generate_answers(client: OpenAIClient, prompts, *, max_tokens: int = 256, temperature: float = 0.0,
                     seed: int = 0) -> list[str]:
    return [client.chat([{"role": "user", "content": p}], max_tokens=max_tokens, temperature=temperature,
                        seed=seed) for p in prompts]
