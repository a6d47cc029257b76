"""A run's metrics: one JSON line per log step (metrics.jsonl) and TensorBoard scalars, on the chief.

The log is keyed by step, so a resumed run first drops the lines past the step it
resumes from (it logs them again), and a run forked from another starts with the
other's lines up to the fork.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time

from code_in_pretraining.data.phase_plan import PhasePlan
from code_in_pretraining.model.config import ModelConfig
from code_in_pretraining.model.info import flops_per_token
from code_in_pretraining.train import throughput

log = logging.getLogger(__name__)


class MetricsLogger:
    """Loss, per-source loss, LR, norms, tokens/s, MFU and epochs per source, every log step."""

    def __init__(self, workdir: pathlib.Path, plan: PhasePlan, cfg, model_cfg: ModelConfig, sources: list[str],
                 enabled: bool = True):
        self.plan, self.sources, self.enabled = plan, sources, enabled
        self.tokens_per_step = plan.tokens_per_step
        self.flops_per_token = flops_per_token(model_cfg, cfg.seq_len)["flops_per_token"]
        self.peak = cfg.peak_flops or throughput.device_peak_flops()
        self.t0, self.window_start = time.perf_counter(), None
        if enabled:
            from tensorboardX import SummaryWriter

            self.file = (workdir / "metrics.jsonl").open("a")
            self.tb = SummaryWriter(str(workdir / "tensorboard"))

    def phase_start(self, step: int, phase: int, lr: float, resumed: bool) -> None:
        ph = self.plan.phases[phase]
        how = "resumes" if resumed else "starts"
        log.info("step %d: phase %d %r %s: mixture %r, %s schedule, LR %.4g", step, phase, ph.name, how,
                 ph.mixture, ph.schedule, lr)
        self.t0, self.window_start = time.perf_counter(), step
        if self.enabled:
            self.tb.add_text("phase", f"step {step}: phase `{ph.name}` {how}, mixture `{ph.mixture}`, "
                                      f"{ph.schedule} schedule, LR {lr:.4g}", step)

    def log(self, step: int, phase: int, metrics: dict, epochs: dict[str, float]) -> dict[str, float]:
        source_nll, source_tokens = metrics.pop("source_nll"), metrics.pop("source_tokens")
        out = {k: float(v) for k, v in metrics.items()}
        out.update(step=step, phase=phase, tokens_seen=step * self.tokens_per_step)
        out["tokens_per_s"] = (step - self.window_start) * self.tokens_per_step / (time.perf_counter() - self.t0)
        util = throughput.mfu(out["tokens_per_s"], self.flops_per_token, self.peak)
        if util is not None:
            out["mfu"] = util
        for name, nll, n in zip(self.sources, source_nll, source_tokens):
            if n > 0:
                out[f"loss/{name}"] = float(nll / n)
        out.update({f"epochs/{name}": e for name, e in epochs.items()})
        self.t0, self.window_start = time.perf_counter(), step
        if self.enabled:
            self.file.write(json.dumps(out) + "\n")
            self.file.flush()
            for k, v in out.items():
                self.tb.add_scalar(f"train/{k}", v, step)
        return out

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()


def truncate(path: pathlib.Path, step: int, *, source: pathlib.Path | None = None) -> None:
    """Keeps the lines of steps <= `step` in `path`, taken from `source` (another run's log) if given."""
    source = source or path
    if not source.exists():
        return
    kept = [line for line in source.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in kept))
