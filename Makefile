# Every target that needs Python builds the virtual environment first, so a fresh clone works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-scale test-fast bench bench-outage cost lint clean synth cdk-synth test-api-fuzz bench-http

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $(STAMP)

# `make run ARGS="--retry-time-scale 0.001"`: any option of `stepwire local`.
run: $(STAMP)
	$(BIN)/stepwire local $(ARGS)

# Fastest tiers first: a broken rule fails in seconds, before the engine and e2e runs.
# The browser tier (headless Chromium) last; it writes screenshots to build/screenshots/.
TIERS := tests/unit tests/functional tests/workflow tests/infrastructure tests/e2e tests/browser

test: $(STAMP)
	$(BIN)/statelint --ignore URI --ignore FLOAT statemachines/*.asl.json
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not scale" $(TIERS)

# Full-size runs, minutes each (one event to 10,000 subscriptions): not in `make test`.
test-scale: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -s -m scale tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "unit or functional"

# EventBridge ingress first, then the HTTP ingress (POST /events), each with its reference;
# CPU per notification by component. `make bench SOAK=10000`: then 10,000 events through the
# API at SOAK_RATE/s (20) for RSS growth and POST /events latency (about 9 minutes).
SOAK_ARGS = $(if $(SOAK),--soak $(SOAK),) $(if $(SOAK_RATE),--soak-rate $(SOAK_RATE),)
bench: $(STAMP)
	$(BIN)/python -m bench.throughput $(if $(N),--events $(N),)
	$(BIN)/python -m bench.http_ingress --breakdown $(if $(RATE),--rate $(RATE),) $(SOAK_ARGS)

# One endpoint down while 1,000 events go to it: executions held, another tenant's latency,
# the backlog's delivery after recovery (N events, SCALE = --retry-time-scale).
bench-outage: $(STAMP)
	$(BIN)/python -m bench.outage $(if $(N),--events $(N),) $(if $(SCALE),--retry-time-scale $(SCALE),)

# $ per million notifications per scenario, today's pipeline beside the previous one, measured
# on the local runtime at the prices in bench/prices.json; quota ceilings; cold import times.
cost: $(STAMP)
	$(BIN)/python -m bench.cost

# The HTTP API fuzzed by schemathesis from its own /openapi.json, longer than in `make test`.
test-api-fuzz: $(STAMP)
	STEPWIRE_FUZZ_EXAMPLES=$(or $(EXAMPLES),400) $(BIN)/python -m pytest -q -p no:cacheprovider \
		-rA tests/e2e/api/test_api_schemathesis.py

# HTTP ingress: POST /events latency at a fixed offered rate, notifications/s through the API.
bench-http: $(STAMP)
	$(BIN)/python -m bench.http_ingress $(if $(RATE),--rate $(RATE),) $(if $(N),--events $(N),) \
		$(SOAK_ARGS) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check workflows lambdas stacks stepwire tests bench
	$(BIN)/mypy
	$(BIN)/statelint --ignore URI --ignore FLOAT statemachines/*.asl.json

# The CloudFormation template and the bundled Lambda asset in cdk.out (no AWS account needed).
synth: $(STAMP)
	$(BIN)/python app.py

# The same through the CDK CLI (npm), which `cdk deploy` uses.
cdk-synth: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" npx --yes aws-cdk@2 synth --quiet

clean:
	rm -rf $(VENV) cdk.out .pytest_cache
