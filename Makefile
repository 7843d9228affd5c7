# kuberay-apiserver developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kuberay-apiserver
PYTEST_ARGS ?=

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the service with its development tools

run: $(STAMP) ## Run the service on the dev cluster with embedded SQLite (HTTP :31888, gRPC :31887, like the chart's NodePorts)
	$(VENV)/bin/kuberay-apiserver serve --dev-cluster --host 127.0.0.1 --http-port 31888 --grpc-port 31887

tools: ## Install the Debian packages the tests need, build helm and the control plane, fetch the CRDs (each cached)
	bash hack/ensure-system-packages.sh
	bash hack/fetch-crds.sh >/dev/null
	bash hack/install-helm.sh >/dev/null
	bash hack/build-control-plane.sh >/dev/null

test: $(STAMP) tools ## Run every test: unit, dev cluster and real kube-apiserver, SQLite and PostgreSQL, chart, wheel
	$(PY) -m pytest $(PYTEST_ARGS)

chart-test: $(STAMP) ## Lint and render the Helm chart, lint the Dockerfile (builds helm once into the cache)
	bash hack/install-helm.sh >/dev/null
	$(PY) -m pytest tests/chart -q

kube-apiserver: ## Build kube-apiserver, kubectl, kube-scheduler, kube-controller-manager and etcd from Go modules (cached)
	bash hack/build-kube-apiserver.sh

control-plane: ## Also build the KubeRay operator and kwok for the operator tier (cached; prints build times)
	bash hack/build-control-plane.sh

test-kube: $(STAMP) kube-apiserver ## Tests against a real kube-apiserver + etcd on loopback only
	$(PY) -m pytest --kube real tests/kubeapi tests/e2e $(PYTEST_ARGS)

test-operator: $(STAMP) control-plane ## The operator tier only: the service while the KubeRay operator reconciles
	$(PY) -m pytest tests/operator $(PYTEST_ARGS)

bench: $(STAMP) ## Time the HTTP API, reads against a raw Kubernetes client, job logs from a real Ray head, and audit queries over 1,000,000 rows (~15 min)
	$(PY) -m bench.api_bench
	$(PY) -m bench.api_bench --postgres
	$(PY) -m bench.auth_bench
	$(PY) -m bench.read_bench
	$(PY) -m bench.jobs_bench
	$(PY) -m bench.audit_bench $(BENCH_ARGS)

lint: $(STAMP) ## ruff, strict mypy and the layer map (import-linter)
	$(VENV)/bin/ruff check service tests migrations bench
	$(VENV)/bin/ruff format --check service tests migrations bench
	$(VENV)/bin/mypy service
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Format the code with ruff
	$(VENV)/bin/ruff format service tests migrations
	$(VENV)/bin/ruff check --fix service tests migrations

.PHONY: help install run tools test chart-test kube-apiserver control-plane test-kube test-operator bench lint format
