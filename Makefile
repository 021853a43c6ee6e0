# SynFinance Stream — the two commands a new user needs are `make demo` and `make test`.
# Both set everything up on a fresh machine: Python deps in .venv, the Kafka jars from Maven Central,
# and the system tools (Java 17, Maven, PostgreSQL server) from Debian's packages when missing.
# `SYNFIN_KAFKA_VERSION=3.9.1 make test` runs the suite on Kafka 3.9 instead of the default 4.x.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo venv system-deps test-deps kafka-jars lint stack-up stack-down clean

test: venv system-deps test-deps kafka-jars ## run the whole test suite against a real Kafka and PostgreSQL
	$(BIN)/pytest

demo: venv system-deps kafka-jars ## run the main job end to end on the embedded local stack (ARGS=--registry: Confluent framing)
	$(BIN)/synfinance demo $(ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

# Java 17, Maven, the PostgreSQL server binaries and Prometheus (for the monitoring test);
# installed with apt-get only when missing.
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing:$$missing — install them (Debian: sudo apt-get install$$missing)"; exit 2; fi; \
	fi

# what only the tests need: headless Chromium renders the evaluation report (tests/processors/evaluation)
test-deps:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing: chromium"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "missing: chromium — install it (Debian: sudo apt-get install chromium)"; exit 2; fi; \
	fi

# the broker and tool jars of SYNFIN_KAFKA_VERSION (default: infra/kafka/pom.xml's 4.x), as the tests will run
kafka-jars: venv
	$(BIN)/synfinance stack fetch

lint: venv
	$(BIN)/ruff check .

stack-up: venv system-deps kafka-jars
	$(BIN)/synfinance stack up

stack-down: venv
	$(BIN)/synfinance stack down

clean: stack-down
	rm -rf $(VENV) .synfin .pytest_cache .ruff_cache
