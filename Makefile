# Two commands for a fresh machine (Python 3.11, root):
#   make demo   trains text-only and text+code tiny models on the embedded default corpus
#   make test   runs the test suite
# Each creates the project-local virtual environment on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := dev,test,beam,eval,notebooks

.PHONY: demo test data install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(BIN)/cip data fetch-default

demo: data
	$(BIN)/cip demo

test: data
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
