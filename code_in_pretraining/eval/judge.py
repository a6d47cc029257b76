"""Generative quality as in the paper: LLM-as-a-judge pairwise win-rates.

For every prompt the judge sees both answers twice, once in each order (to
cancel position bias). A verdict is [[A]], [[B]] or [[C]] (tie); answers the
judge gives that we cannot parse count as ties and are reported. Win-rate =
(wins + ties / 2) / judgments, with a bootstrap confidence interval over prompts.

The paper uses the English Dolly-200 prompts; they are not shipped here, so
`load_prompts` takes a file path or URL (JSONL with "instruction"/"prompt" and
optional "context", or plain text, one prompt per line). `TEST_PROMPTS` are a
few prompts written for the project's tests, not Dolly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import re
import urllib.request

TEST_PROMPTS = (  # written for tests; NOT the Dolly-200 prompts
    "Explain in two sentences why the sky looks blue.",
    "Write a short Python function that reverses a string.",
    "List three uses of a paperclip.",
    "What is the difference between weather and climate?",
)

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
    if re.match(r"^https?://", path_or_url):
        with urllib.request.urlopen(path_or_url, timeout=60) as resp:
            text = resp.read().decode("utf-8")
    else:
        text = pathlib.Path(path_or_url).read_text(encoding="utf-8")
    prompts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            prompts.append(line.strip())
            continue
        p = r.get("instruction") or r.get("prompt") or r.get("text")
        if r.get("context"):
            p = f"{p}\n\n{r['context']}"
        prompts.append(p)
    return prompts[:limit] if limit else prompts


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


def win_rate(records: list[dict], *, bootstrap: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """Model A's win-rate (ties count half) with a percentile bootstrap CI over prompts."""
    score = {"win": 1.0, "tie": 0.5, "loss": 0.0}
    by_prompt: dict[int, list[float]] = {}
    for r in records:
        by_prompt.setdefault(r["prompt"], []).append(score[r["outcome"]])
    groups = list(by_prompt.values())
    flat = [s for g in groups for s in g]
    rate = sum(flat) / len(flat) if flat else float("nan")
    rng = random.Random(seed)
    stats = []
    for _ in range(bootstrap if groups else 0):
        sample = [s for _ in groups for s in rng.choice(groups)]
        stats.append(sum(sample) / len(sample))
    stats.sort()
    lo = stats[int(alpha / 2 * len(stats))] if stats else float("nan")
    hi = stats[min(len(stats) - 1, int((1 - alpha / 2) * len(stats)))] if stats else float("nan")
    count = {k: sum(r["outcome"] == k for r in records) for k in ("win", "tie", "loss")}
    return {"win_rate": rate, "ci_low": lo, "ci_high": hi, "wins": count["win"], "ties": count["tie"],
            "losses": count["loss"], "unparseable": sum(r["unparsed"] for r in records),
            "judgments": len(records), "prompts": len(groups)}


def generate_answers(client: OpenAIClient, prompts, *, max_tokens: int = 256, temperature: float = 0.0,
                     seed: int = 0) -> list[str]:
    return [client.chat([{"role": "user", "content": p}], max_tokens=max_tokens, temperature=temperature,
                        seed=seed) for p in prompts]
