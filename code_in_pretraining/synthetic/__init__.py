"""Verified synthetic Python problems, an open stand-in for the paper's proprietary synthetic code.

No language model: each family (families/) is code that draws names, constants,
operations, input domains and phrasing from a seeded RNG and writes a
HumanEval-style problem (signature + docstring with examples), a reference
solution, an independent specification and test inputs. verify.py checks every
candidate by execution in the project's sandbox (tests pass, agreement with the
specification on random probes, tests kill mutants of the solution); dedup.py
drops renamed copies; generate.py makes N of them deterministically for a seed;
and writes them as JSON Lines (`cip synth`) for the `synthetic_code` task.
"""
