"""Multi-process start-up: `jax.distributed.initialize` from flags or the environment.

On TPU VMs, Slurm, Open MPI and Kubernetes jax finds the coordinator and the
process ids itself (`--distributed`); elsewhere, pass the coordinator address,
the process count and this process's id, as flags or as the environment
variables JAX_COORDINATOR_ADDRESS, CIP_NUM_PROCESSES and CIP_PROCESS_ID. CPU
processes exchange collectives over gloo.
"""

from __future__ import annotations

import argparse
import logging
import os

import jax

log = logging.getLogger(__name__)


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("multi-process")
    g.add_argument("--distributed", action="store_true",
                   help="initialise jax.distributed, detecting the cluster (TPU VM pods, Slurm, ...)")
    g.add_argument("--coordinator_address", default=os.environ.get("JAX_COORDINATOR_ADDRESS"),
                   help="host:port of process 0 (env JAX_COORDINATOR_ADDRESS)")
    g.add_argument("--num_processes", type=int, default=_env_int("CIP_NUM_PROCESSES"),
                   help="number of processes (env CIP_NUM_PROCESSES)")
    g.add_argument("--process_id", type=int, default=_env_int("CIP_PROCESS_ID"),
                   help="this process's id (env CIP_PROCESS_ID)")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def initialize(args: argparse.Namespace) -> bool:
    """Initialises jax.distributed when the flags or environment ask for it; True if it did."""
    explicit = args.coordinator_address is not None or args.num_processes is not None
    if not (args.distributed or explicit):
        return False
    if explicit and None in (args.coordinator_address, args.num_processes, args.process_id):
        raise ValueError("multi-process runs need --coordinator_address, --num_processes and --process_id "
                         "together (or --distributed on a cluster jax detects)")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU backends only
    jax.distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
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
