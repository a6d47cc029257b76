"""Mesh (data, fsdp, tensor), the logical-axis rule table, and a sharded grad step."""

from code_in_pretraining.parallel.mesh import (
    batch_sharding,
    init_sharded,
    make_mesh,
    shard_batch,
    state_shardings,
)
from code_in_pretraining.parallel.rules import RULES, constrain, logical_to_spec
from code_in_pretraining.parallel.step import make_sharded_grad_fn

__all__ = [
    "RULES",
    "batch_sharding",
    "constrain",
    "init_sharded",
    "logical_to_spec",
    "make_mesh",
    "make_sharded_grad_fn",
    "shard_batch",
    "state_shardings",
]
