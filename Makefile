# Commands for a fresh machine (Python 3.11, root):
#   make experiment   the paper's grid (4 variants, their phases and cooldowns) at toy scale, with the report
#   make demo         trains text-only and text+code tiny models on the embedded default corpus (minutes)
#   make test         runs the test suite
# Each creates the project-local virtual environment on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := dev,test,beam,eval,notebooks

.PHONY: experiment demo test data install clean

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

clean:
	rm -rf $(VENV) runs
