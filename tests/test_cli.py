"""The command line's one policy: help without JAX or TensorFlow, every flag described, both flag
spellings, and a user's mistake answered in one line with exit code 2."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from code_in_pretraining.cli import COMMANDS, command, main


def _cip(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "code_in_pretraining.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
        elif not isinstance(action, argparse._HelpAction):
            yield parser.prog, action


def test_help_answers_without_importing_jax_or_tensorflow():
    code = ("import sys\nfrom code_in_pretraining.cli import COMMANDS, main\n"
            "for name in COMMANDS:\n"
            "    try:\n        main([name, '--help'])\n    except SystemExit as e:\n        assert e.code == 0, name\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'jax', 'tensorflow', 'seqio', 'grain', 'flax'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_every_flag_of_every_command_is_described():
    bare = [f"{prog} {action.option_strings or action.dest}" for name in COMMANDS
            for prog, action in _actions(command(name)[0]()) if not action.help]
    assert not bare, f"flags without help: {bare}"


def test_top_level_help_points_to_command_help(capsys):
    assert main(["--help"]) == 0
    assert "cip COMMAND --help" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2


def test_flags_take_dashes_or_underscores():
    parser = command("train")[0]()
    args = parser.parse_args(["--gin_file=a.gin", "--gin-file", "b.gin", "--gin_bindings", "X.y = 1",
                              "--workdir=w", "--num_processes=2"])
    assert (args.gin_file, args.gin_bindings, args.num_processes) == (["a.gin", "b.gin"], ["X.y = 1"], 2)
    # values are never rewritten, only flag names
    assert command("experiment")[0]().parse_args(["--workdir=w", "--gin_bindings=A.b_c = 'd_e'"]).gin_bindings \
        == ["A.b_c = 'd_e'"]


@pytest.mark.parametrize("args, env, names", [
    (["eval", "--checkpoint", "/nonexistent", "--out", "/tmp/x.json"], {}, "/nonexistent"),
    (["perplexity", "--checkpoint", "/nonexistent"], {}, "/nonexistent"),
    (["report", "/nonexistent"], {}, "/nonexistent"),
    (["inspect", "--recipe", "balanced_to_txt", "--tokens", "1000"], {}, "unknown recipe 'balanced_to_txt'"),
    (["inspect", "--mixture", "balanced", "--tokens", "1000"], {"CIP_SOURCES": "/missing.json"},
     "$CIP_SOURCES=/missing.json"),
    (["export-hf", "--checkpoint", "/nonexistent", "--out", "/tmp/x"], {}, "/nonexistent"),
], ids=["eval", "perplexity", "report", "inspect_recipe", "sources", "export"])
def test_a_users_mistake_is_one_line_and_exit_2(args, env, names):
    proc = _cip(*args, env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and names in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"cip {args[0]}: ")
    # and TensorFlow's start-up lines are not there
    assert "oneDNN" not in proc.stderr and "cuda drivers" not in proc.stderr, proc.stderr[-3000:]
