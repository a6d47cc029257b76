# Commands for a fresh machine (Python 3.11, root):
#   make experiment   the paper's grid (4 variants, their phases and cooldowns) at toy scale, with the report
#   make demo         trains text-only and text+code tiny models on the embedded default corpus (minutes)
#   make test         runs the test suite
#   make gpu-aot      a second venv, .venv-aot, that adds JAX's CUDA plugin to .venv's packages, so that
#                     benchmarks/train_step.py --target h100 compiles for a GPU on this machine
#   make tpu-aot      a third venv, .venv-tpu-aot, that adds libtpu (XLA's TPU compiler) to .venv's packages,
#                     so that `.venv-tpu-aot/bin/cip train --compile-only --topology v5e-256 ...` compiles
#                     the step for a TPU slice on this machine (README, "Before you book a pod")
# Each creates the project-local virtual environment on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := dev,test,beam,eval,notebooks,lmeval

AOT_VENV := .venv-aot
TPU_AOT_VENV := .venv-tpu-aot

.PHONY: experiment demo test data install gpu-aot tpu-aot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(BIN)/cip data fetch-default

experiment: data
	$(BIN)/cip experiment --grid paper --scale toy --workdir runs/experiment

demo: data
	$(BIN)/cip demo

test: data
	$(BIN)/python -m pytest -q

# The plugin must match jaxlib's version exactly; .venv's packages (and its editable install of
# this project) come in through site.addsitedir in a .pth file.
gpu-aot: $(AOT_VENV)/.installed-stamp

$(AOT_VENV)/.installed-stamp: $(STAMP)
	$(PYTHON) -m venv $(AOT_VENV)
	$(BIN)/python -c "import sysconfig; print(f'import site; site.addsitedir({sysconfig.get_path(\"purelib\")!r})')" \
		> "$$($(AOT_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/cip_main_venv.pth"
	version=$$($(BIN)/python -c 'import jaxlib; print(jaxlib.__version__)') && \
		$(AOT_VENV)/bin/python -m pip install -q "jax-cuda12-plugin[with-cuda]==$$version" "jax-cuda12-pjrt==$$version"
	touch $@

# libtpu as `jax[tpu]` of .venv's jax pins it (jax 0.10.2: libtpu 0.0.42.*), read from jax's own
# metadata; --no-deps then installs this project's entry point (cip) alone, the rest comes from .venv.
tpu-aot: $(TPU_AOT_VENV)/.installed-stamp

$(TPU_AOT_VENV)/.installed-stamp: $(STAMP)
	$(PYTHON) -m venv $(TPU_AOT_VENV)
	$(BIN)/python -c "import sysconfig; print(f'import site; site.addsitedir({sysconfig.get_path(\"purelib\")!r})')" \
		> "$$($(TPU_AOT_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/cip_main_venv.pth"
	requirement=$$($(BIN)/python -c "import importlib.metadata as m; \
		print(next(r.split(';')[0] for r in m.requires('jax') if r.startswith('libtpu') and 'tpu' in r.split(';')[1]))") && \
		$(TPU_AOT_VENV)/bin/python -m pip install -q "$$requirement"
	$(TPU_AOT_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

clean:
	rm -rf $(VENV) $(AOT_VENV) $(TPU_AOT_VENV) runs
