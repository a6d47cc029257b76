"""Multi-process start-up: `jax.distributed.initialize`, detected or given.

On TPU VMs, Slurm, Open MPI and Kubernetes jax finds the coordinator and the
process ids itself (`detect`); elsewhere, give the coordinator address, the
process count and this process's id (the command line takes them as flags or as
JAX_COORDINATOR_ADDRESS, CIP_NUM_PROCESSES and CIP_PROCESS_ID). CPU processes
exchange collectives over gloo.
"""

from __future__ import annotations

import logging

import jax

log = logging.getLogger(__name__)


def initialize(*, detect: bool = False, coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Initialises jax.distributed when asked to (`detect`, or an explicit coordinator); True if it did."""
    explicit = coordinator_address is not None or num_processes is not None
    if not (detect or explicit):
        return False
    if explicit and None in (coordinator_address, num_processes, process_id):
        raise ValueError("multi-process runs need --coordinator_address, --num_processes and --process_id "
                         "together (or --distributed on a cluster jax detects)")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU backends only
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
    log.info("process %d of %d, %d local / %d global devices", jax.process_index(), jax.process_count(),
             jax.local_device_count(), jax.device_count())
    return True


def is_chief() -> bool:
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier `name` (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
