"""The paper's mixtures, with weights as TOKEN fractions (PAPER.md, "Recipes").

"Code" inside a mixture is 80% web code + 20% markup unless a recipe says
otherwise. Choices the paper leaves open are marked (?) and documented here:
- cooldown text (?): high-quality text 75%, math 12.5%, instruction data 12.5%,
  so cooldown_with_code is 60 / 10 / 10 text + 16 / 4 web code / markup.
- code_quality_* adds, on top of web code, 20% markup, then 15% code-adjacent,
  then 10% synthetic; web code takes what remains.
- balanced_synth (?): balanced with 10% of all tokens synthetic code, the rest of
  the code half keeping the 80/20 web/markup split.
"""

from __future__ import annotations

import seqio

TEXT, WEB, MARKUP, ADJACENT, SYNTH = "slimpajama", "stack_code", "markup", "code_adjacent", "synthetic_code"
COOLDOWN_TEXT = {"cooldown_text": 0.75, "cooldown_math": 0.125, "cooldown_instruct": 0.125}


def code(share: float) -> dict[str, float]:
    """`share` of the tokens as code: 80% web code, 20% markup."""
    return {WEB: 0.8 * share, MARKUP: 0.2 * share} if share > 0 else {}


def text(share: float, sources=None) -> dict[str, float]:
    sources = sources or {TEXT: 1.0}
    return {name: w * share for name, w in sources.items()} if share > 0 else {}


PAPER_MIXTURES: dict[str, dict[str, float]] = {
    "text_only": text(1.0),
    "balanced": {**text(0.5), **code(0.5)},
    "code_init": code(1.0),
    "continued": {**text(0.9), **code(0.1)},
    "cooldown_with_code": {**text(0.8, COOLDOWN_TEXT), **code(0.2)},
    "cooldown_no_code": text(1.0, COOLDOWN_TEXT),
    **{f"code_sweep_{p}": {**text(1 - p / 100), **code(p / 100)} for p in (0, 25, 50, 75, 90, 100)},
    "code_quality_web": {WEB: 1.0},
    "code_quality_markup": {WEB: 0.8, MARKUP: 0.2},
    "code_quality_adjacent": {WEB: 0.65, MARKUP: 0.2, ADJACENT: 0.15},
    "code_quality_synth": {WEB: 0.55, MARKUP: 0.2, ADJACENT: 0.15, SYNTH: 0.1},
    "balanced_synth": {**text(0.5), WEB: 0.32, MARKUP: 0.08, SYNTH: 0.1},
}

for _name, _weights in PAPER_MIXTURES.items():
    if _name not in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.add(_name, [(t, w) for t, w in _weights.items() if w > 0])
