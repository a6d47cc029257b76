"""Experiment grids: the paper's variants trained and evaluated at a named scale."""
