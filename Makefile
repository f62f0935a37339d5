# Set-up is two commands: `make run` (quick end-to-end job on the CPU) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench calibrate notebook clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench,compat,log]'
	touch $(STAMP)

# Quick end-to-end reproduction on the CPU: train every policy on every preset, evaluate all on
# the same episodes, write figures, tables and results/quick/REPORT.md. Finished stages are
# cached, so a second `make run` only rebuilds the report.
run: $(STAMP)
	$(VENV)/bin/dtac reproduce --profile quick

# the lint first (ruff, rules in pyproject.toml), then the tests
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=20 tests

bench: $(STAMP)
	$(PY) experiments/bench_sim.py
	$(PY) experiments/bench_train.py
	$(PY) experiments/bench_deploy.py
	$(PY) experiments/bench_quality.py

# Regenerate notebooks/quickstart.ipynb and execute it, storing its outputs (plots, tables).
notebook: $(STAMP)
	$(PY) notebooks/make_quickstart.py --execute

calibrate: $(STAMP)
	$(PY) experiments/calibrate.py

clean:
	rm -rf $(VENV) results runs *.egg-info
