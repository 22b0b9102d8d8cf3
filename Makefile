# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need
# (a project-local .venv with moto, the AWS CLI, cargo-lambda, SAM CLI and a Standard Webhooks
# verifier) on first use.

VENV := .venv
# checkov's pins conflict with the SAM CLI's and moto's: it gets a venv of its own.
CHECKOV := .venv-checkov
PYTHON ?= python3

.PHONY: demo test check venv load mutants redrive up down bench package cli

demo: $(VENV)/.installed
	bash dev/demo.sh

# A local stack that stays up until Ctrl-C (or `make down`): see the README's "Local stack".
up: $(VENV)/.installed
	bash dev/up.sh

down:
	bash dev/down.sh

# The command line, into ~/.cargo/bin (see the README's "Command line").
cli:
	cargo install --path cli --locked

test: venv
	bash dev/test.sh

# Checks every flow definition in shared/flows (or the files given: make check FLOWS=path.yaml)
# and lists every problem of every file at once, with line and column.
# Built with the whole workspace (as make demo, make up and the tests build it): `cargo run -p
# emr-flows` alone would unify features differently and rebuild the dependencies for itself.
check:
	cargo build --quiet --locked --workspace --bins
	"$${CARGO_TARGET_DIR:-target}/debug/check-definitions" $(FLOWS)

# Everything: the project's venv and checkov's (only `make test` uses checkov).
venv: $(VENV)/.installed $(CHECKOV)/.installed

$(VENV)/.installed: dev/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r dev/requirements.txt
	touch $@

# Not in CI: `sam build` of every function (release, arm64; slow, see the README) and each
# function's bootstrap and zip size.
package: $(VENV)/.installed
	bash dev/package.sh

# Not in CI: N flows, their events duplicated and shuffled, 50-way (see tests/src/bin/load.rs).
LOAD_FLOWS ?= 1000
load: $(VENV)/.installed
	cargo run --quiet --locked -p integration-tests --bin load -- $(LOAD_FLOWS) 50 30

$(CHECKOV)/.installed: dev/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --disable-pip-version-check -r dev/requirements-checkov.txt
	touch $@

# Sends the events a deployed stack kept back (FailedEventsQueue; ARGS=--dlq for EventBridge's
# dead-letter queue) through on-state-change and reports what applied: `make redrive STACK=name`.
redrive: $(VENV)/.installed
	$(VENV)/bin/python dev/admin/redrive.py --stack "$(STACK)" $(ARGS)

# Not in CI: cargo-mutants (crates.io) on the pure modules with their unit tests; prints caught
# and missed mutants per file. Long: a build per mutant (only the library's tests are built:
# `--cargo-arg=--lib` keeps the check-definitions binary out of every build).
MUTANTS_FILES ?= -f 'shared/src/model/*.rs' -f shared/src/model/record/cause.rs -f shared/src/model/record/termination.rs \
	-f shared/src/model/record/flow_events.rs -f shared/src/model/record/job_run.rs -f shared/src/model/record/steps.rs \
	-f shared/src/model/record/eks_job_run.rs \
	-f shared/src/callback/policy.rs -f shared/src/callback/address.rs -f shared/src/callback/mask.rs \
	-f shared/src/callback/document.rs -f shared/src/callback/keys.rs -f shared/src/callback/dispatch.rs \
	-f shared/src/callback/signature.rs -f shared/src/catalog/render.rs -f shared/src/catalog/steps.rs \
	-f shared/src/catalog/cluster_steps.rs -f shared/src/catalog/serverless_job_run.rs \
	-f shared/src/catalog/eks_job_run.rs -f shared/src/catalog/start_job_run.rs \
	-f shared/src/targets/events.rs -f shared/src/targets/cluster/events.rs -f shared/src/targets/serverless/events.rs \
	-f shared/src/targets/eks/events.rs
mutants:
	command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
	cargo mutants -p emr-flows $(MUTANTS_FILES) --timeout 120 --cargo-arg=--lib || true
	python3 dev/mutants_summary.py mutants.out

# Not in CI: the benchmark of record (see README, "Benchmark"): the release functions under a
# Lambda Runtime API emulator, against moto behind the request-counting proxy.
BENCH_FUNCTIONS := -p submit -p on-state-change -p terminate -p list
bench: $(VENV)/.installed
	cargo build --release --locked $(BENCH_FUNCTIONS)
	cargo build --locked -p integration-tests --bin create-local-table
	$(VENV)/bin/python dev/bench/bench.py $(BENCH_ARGS)
