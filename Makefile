# Set-up is two commands: `make run` (quick end-to-end job on the CPU) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench calibrate clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Quick end-to-end job on the CPU: train TAC, transfer to DTAC, evaluate every policy on the
# same episodes. Finished stages are kept (--resume), so a second `make run` only evaluates.
QUICK := runs/quick
run: $(STAMP)
	$(VENV)/bin/dtac train-tac --preset small --out $(QUICK)/tac --resume
	$(VENV)/bin/dtac transfer --tac $(QUICK)/tac --out $(QUICK)/dtac --resume
	$(VENV)/bin/dtac evaluate --preset small --runs $(QUICK)/tac $(QUICK)/dtac --out results/quick

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) experiments/bench_sim.py

calibrate: $(STAMP)
	$(PY) experiments/calibrate.py

clean:
	rm -rf $(VENV) results runs *.egg-info
