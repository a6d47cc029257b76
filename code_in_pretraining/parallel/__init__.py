"""Mesh (data, fsdp, tensor) and the logical-axis rule table."""

from code_in_pretraining.parallel.mesh import (
    batch_sharding,
    init_sharded,
    make_mesh,
    shard_batch,
    state_shardings,
)
from code_in_pretraining.parallel.rules import RULES, constrain, logical_to_spec

__all__ = [
    "RULES",
    "batch_sharding",
    "constrain",
    "init_sharded",
    "logical_to_spec",
    "make_mesh",
    "shard_batch",
    "state_shardings",
]
