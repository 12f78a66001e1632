# serverless-modelops: `make demo` and `make test` are the whole set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY313      := $(shell scripts/find-python313.sh)
ifeq ($(PY313),)
$(error Python 3.13 is required: see the message above)
endif
PY313_BIN  := $(dir $(PY313))
VENV       := .venv
VENV_SAM   := .venv-sam
# Template scanners (checkov, cfn-lint) live in their own environment, never in the runtime.
VENV_TOOLS := .venv-tools
PY         := $(VENV)/bin/python
SAM        := $(VENV_SAM)/bin/sam
# sam build needs the runtime's python (python3.13) on PATH; SAM must not phone home
# and needs a writable HOME; onnxruntime must not write telemetry files.
export PATH := $(CURDIR)/$(VENV)/bin:$(PY313_BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export ORT_DISABLE_TELEMETRY := 1
export HOME := $(if $(shell test -w "$$HOME" && echo ok),$(HOME),$(CURDIR)/.home)

DEV_REQS := requirements/dev.txt requirements/dev-constraints.txt jobs/train/requirements.txt $(wildcard layers/runtime/*.txt) pyproject.toml
SAM_REQS := requirements/sam.txt requirements/sam-constraints.txt
TOOLS_REQS := requirements/tools.txt

.PHONY: help setup browser demo demo-scale test lint scan unit sam-check bench api fuzz mutate invoke build deploy clean

help:
	@echo "make demo   set up, then run the model lifecycle locally against embedded AWS (moto)"
	@echo "make demo-scale  batch scoring and a sharded monitoring window, through the state machines"
	@echo "make test   set up, then run lint and every test, on every core [WORKERS=n]"
	@echo "make scan   cfn-lint and checkov on template.yaml (part of make test)"
	@echo "make bench  run every benchmark under benchmarks/"
	@echo "make fuzz   client input: 10,000 generated HTTP requests per route, and many more properties"
	@echo "make mutate mutation testing of the modules that decide [SHARD='registry ...'] [JOBS=2]"
	@echo "make api    serve the functions over HTTP on localhost for curl"
	@echo "make browser install Debian's chromium (as root) for the report's rendering test"
	@echo "            [PORT=3001] [DATA=my.csv TARGET=price [MODEL=name] [TRAIN_ARGS='--estimator linear']]"
	@echo "make invoke FUNCTION=MonitorFunction EVENT=events/monitor_window.json [SET='window.start=...']"
	@echo "            run any function on any event file, without Docker"
	@echo "make build  sam build (with Python 3.13 on PATH)"
	@echo "make deploy sam deploy [ENV=prod] (builds first)"

$(VENV)/.installed: $(DEV_REQS)
	$(PY313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/dev-constraints.txt \
	    -r requirements/dev.txt -r jobs/train/requirements.txt $(foreach r,$(wildcard layers/runtime/*.txt),-r $(r))
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV_SAM)/.installed: $(SAM_REQS)
	$(PY313) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_SAM)/bin/python -m pip install --quiet -c requirements/sam-constraints.txt -r requirements/sam.txt
	touch $@

$(VENV_TOOLS)/.installed: $(TOOLS_REQS)
	$(PY313) -m venv $(VENV_TOOLS)
	$(VENV_TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_TOOLS)/bin/python -m pip install --quiet -r $(TOOLS_REQS)
	touch $@

setup: $(VENV)/.installed $(VENV_SAM)/.installed

# The HTML report's rendering test drives a real headless browser. Installed when missing and
# we are root; otherwise (or if apt fails) the test skips and says how to install it.
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) \
	        || echo "chromium could not be installed: the report rendering test will skip"; \
	else echo "chromium is missing: sudo apt-get update && sudo apt-get install -y chromium" \
	    "(the report rendering test skips without it)"; fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# template.yaml: cfn-lint, then checkov (every check passes or is skipped in the template
# with its reason; docs/RELIABILITY.md, "Template scanning").
scan: $(VENV_TOOLS)/.installed
	$(VENV_TOOLS)/bin/cfn-lint template.yaml
	$(VENV_TOOLS)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# The suite runs on every core (pytest-xdist; WORKERS=1 for one process). `--dist loadfile`
# keeps each file on one worker, so a module-scoped set-up (a served stack) is made once;
# files start in collection order (e2e first), not many-tests-first, so the longest single
# test (the demo loop) starts early instead of running alone at the end.
# The three environments install side by side, then lint and scan run side by side (each
# line of output kept with its target); then the suite on every core.
test:
	@$(MAKE) --no-print-directory --jobs=3 --output-sync=target setup browser lint scan
	SAM_CLI=$(CURDIR)/$(SAM) $(PY) -m pytest -n $(or $(WORKERS),auto) --dist loadfile --no-loadscope-reorder

# The fuzz tier: the tests `make test` runs with a bounded budget, at full size.
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz FUZZ_REQUESTS=10000 SCHEMATHESIS_EXAMPLES=500 $(PY) -m pytest -m fuzz -p no:cacheprovider

# Mutation testing (docs/TESTING.md): cosmic-ray on the modules that decide, one shard per
# module with its fast tests, incremental (.mutate/); not part of `make test`.
mutate: setup $(VENV_TOOLS)/.installed
	nice -n 19 $(VENV_TOOLS)/bin/python scripts/mutate.py --jobs $(or $(JOBS),2) \
	    $(foreach s,$(SHARD),--shard $(s))

demo: setup
	$(PY) -m demo

# Batch scoring and a sharded monitoring window, through both state machines (docs/LOCAL.md).
demo-scale: setup
	$(PY) -m demo.scale

bench: setup
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

# make api [PORT=3001] [DATA=my.csv TARGET=price] [MODEL=name] [TRAIN_ARGS='...'] [API_ARGS='...']
api: setup
	$(PY) -m embedded_aws.local_api $(if $(PORT),--port $(PORT)) \
	    $(if $(DATA),--data '$(DATA)') $(if $(TARGET),--target '$(TARGET)') \
	    $(if $(MODEL),--model-name '$(MODEL)') $(if $(TRAIN_ARGS),--train-args '$(TRAIN_ARGS)') $(API_ARGS)

# make invoke FUNCTION=MonitorFunction EVENT=events/monitor_window.json [SET='k=v k2=v2']
invoke: setup
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=<logical id> EVENT=<event file> [SET='key=value ...']" >&2; exit 2; }
	$(PY) -m embedded_aws.invoke '$(FUNCTION)' '$(EVENT)' $(foreach a,$(SET),--set '$(a)')

# sam build and deploy with the runtime's python3.13 on PATH (exported above).
build: setup
	$(SAM) build

deploy: build
	$(SAM) deploy $(if $(ENV),--config-env $(ENV))

clean:
	rm -rf $(VENV) $(VENV_SAM) $(VENV_TOOLS) .mutate .aws-sam .home .pytest_cache .mypy_cache .ruff_cache
