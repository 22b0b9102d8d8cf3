# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need
# (a project-local .venv with moto, the AWS CLI, cargo-lambda, SAM CLI and a Standard Webhooks
# verifier) on first use.

VENV := .venv
PYTHON ?= python3

.PHONY: demo test check venv load bench

demo: venv
	bash dev/demo.sh

test: venv
	bash dev/test.sh

# Checks every flow definition in shared/flows (or the files given: make check FLOWS=path.yaml)
# and lists every problem of every file at once, with line and column.
check:
	cargo run --quiet --locked -p shared --bin check-definitions -- $(FLOWS)

venv: $(VENV)/.installed

$(VENV)/.installed: dev/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r dev/requirements.txt
	touch $@

# Not in CI: N flows, their events duplicated and shuffled, 50-way (see tests/src/bin/load.rs).
LOAD_FLOWS ?= 1000
load: venv
	cargo run --quiet --locked -p e2e --bin load -- $(LOAD_FLOWS) 50 30

# Not in CI: the benchmark of record (see README, "Benchmark"): the release functions under a
# Lambda Runtime API emulator, against moto behind the request-counting proxy.
BENCH_FUNCTIONS := -p submit -p on-state-change -p terminate -p list
bench: venv
	cargo build --release --locked $(BENCH_FUNCTIONS)
	cargo build --locked -p e2e --bin create-local-table
	$(VENV)/bin/python dev/bench.py $(BENCH_ARGS)
