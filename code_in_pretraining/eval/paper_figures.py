"""The paper's published 470M figures, to print beside a reproduction's.

Source: PAPER.md ("Headline table (470M; Reason / Know / Code)" and "Other findings"),
which summarises Aryabumi et al., "To Code, or Not To Code? Exploring Impact of Code
in Pre-training" (arXiv 2408.10914). Scores are in percent; keys are (recipe, phase)
as in train/recipes.py.
"""

from __future__ import annotations

# (recipe, phase) -> {"reason", "know", "code"}
HEADLINE_470M: dict[tuple[str, str], dict[str, float]] = {
    ("text_only", "pretrain"): {"reason": 49.0, "know": 9.5, "code": 0.4},
    ("text_only", "cooldown"): {"reason": 54.1, "know": 11.1, "code": 4.4},
    ("balanced_only", "pretrain"): {"reason": 51.8, "know": 8.1, "code": 9.0},
    ("balanced_only", "cooldown"): {"reason": 53.2, "know": 11.1, "code": 8.4},
    ("balanced_to_text", "pretrain"): {"reason": 52.0, "know": 7.4, "code": 7.8},
    ("balanced_to_text", "continued"): {"reason": 53.0, "know": 9.9, "code": 4.8},
    ("balanced_to_text", "cooldown"): {"reason": 54.9, "know": 10.9, "code": 5.8},
    ("code_to_text", "pretrain"): {"reason": 44.7, "know": 1.5, "code": 15.5},
    ("code_to_text", "continued"): {"reason": 53.3, "know": 9.5, "code": 4.1},
    ("code_to_text", "cooldown"): {"reason": 52.1, "know": 10.3, "code": 7.5},
}

# Findings the paper states in words (relative gains in %, ratios in x), and where it states them
# (section and figure or table of arXiv 2408.10914v1).
WHERE = {"headline": "§3.6, Table 2", "sweep": "§3.3, Fig. 5", "quality": "§3.4, Fig. 6",
         "cooldown": "§3.5, Fig. 7"}
# With code vs text-only: +8.2% Reason, +4.2% Know, 12x Code; these are the headline
# table's balanced->text after phase 2 against text-only (53.0/49.0, 9.9/9.5, 4.8/0.4).
HEADLINE_GAINS = {"reason": 8.2, "know": 4.2, "code_ratio": 12.0}
# The code-proportion sweep (200B tokens each), against the 0%-code model unless said otherwise.
SWEEP_FINDINGS = {"reason_peak_code_percent": 25, "reason_gain_at_25_percent_code": 3.4,
                  "reason_gain_at_100_percent_code": -18.3, "know_gain_at_25_percent_code": -3.4,
                  "know_gain_at_75_percent_code": -31.0, "know_gain_at_100_percent_code": -86.0,
                  "code_ratio_100_vs_25_percent_code": 2.6}
# PAPER.md, "Other findings": "10% synthetic code gives +9% reasoning and +44.9% code". The paper's
# code-quality section states these gains of the code-only model with synthetic code against the
# code-only model trained on web code alone (code_quality_synth vs code_quality_web).
SYNTH_GAINS = {"reason": 9.0, "code": 44.9}
# The cooldown ablation compares three models: no cooldown (balanced->text after phase 2), a
# cooldown without code and a cooldown with code. Both cooldowns' gains are against no cooldown:
# with code 54.9/53.0, 10.9/9.9, 5.8/4.8 in the headline table.
COOLDOWN_WITH_CODE_GAINS = {"reason": 3.6, "know": 10.1, "code": 20.0}
COOLDOWN_NO_CODE_GAINS = {"know": 3.1}
COOLDOWN_WIN_RATE = 52.3  # LLM-as-a-judge win-rate (%), cooldown vs no cooldown
# The abstract: "compared to text-only pre-training, the addition of code results in up to ... 6.6%
# improvement in generative win-rates". Read here as wins − losses in % of judgements, on the pair of
# the abstract's other gains (balanced->text after phase 2 against text-only): the paper's reading
# and pair are not in PAPER.md.
WIN_RATE_GAIN_OVER_TEXT_ONLY = 6.6

# LLM-as-a-judge pairs (variant, phase, against, against phase) -> the paper's figures ("win_rate" or
# "win_minus_loss", %). cooldown_with_code trains balanced_to_text's recipe: one model, two names.
WIN_RATES: dict[tuple[str, str, str, str], dict[str, float]] = {
    ("balanced_to_text", "continued", "text_only", "pretrain"): {"win_minus_loss": WIN_RATE_GAIN_OVER_TEXT_ONLY},
    ("cooldown_with_code", "cooldown", "cooldown_with_code", "continued"): {"win_rate": COOLDOWN_WIN_RATE},
    ("balanced_to_text", "cooldown", "balanced_to_text", "continued"): {"win_rate": COOLDOWN_WIN_RATE},
}


def published(recipe: str, phase: str) -> dict[str, float] | None:
    """The paper's Reason / Know / Code for a (recipe, phase), None where it has no row."""
    return HEADLINE_470M.get((recipe, phase))
