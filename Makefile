# make demo  - build into a local venv and trace a small gevent program
# make test  - build and run the whole test suite
# PYTHON=/path/to/python3.12 make test   - the same with another interpreter
PYTHON ?= python3
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV ?= .venv/$(PYVER)
VPY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
BUILT := $(VENV)/.infi-tracing-installed
SOURCES := setup.py setup.cfg pyproject.toml $(shell find infi_tracing infi -type f \( -name '*.py' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.h' -o -name '*.pyi' \))
PYTEST_ARGS ?=

.PHONY: demo test lint bench-quick clean venv syslog-daemons

venv: $(DEPS)

$(VPY):
	@test -n "$(PYVER)" || { echo "PYTHON=$(PYTHON) is not a working interpreter"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

$(DEPS): requirements-dev.txt | $(VPY)
	$(VPY) -m pip install -q -r requirements-dev.txt
	touch $@

EXAMPLE_PLUGIN := examples/infi-tracing-sink-example

$(BUILT): $(DEPS) $(SOURCES) $(wildcard $(EXAMPLE_PLUGIN)/*)
	$(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall .
	$(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall ./$(EXAMPLE_PLUGIN)
	touch $@

demo: $(BUILT)
	$(VPY) examples/gevent_demo.py

test: $(BUILT) lint syslog-daemons
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(DEPS)
	$(VENV)/bin/ruff check infi_tracing infi tests benchmarks examples

syslog-daemons:
	.ci/install-syslog-daemons

bench-quick: $(BUILT)
	$(VPY) benchmarks/tight_loop.py --quick

clean:
	rm -rf .venv build *.egg-info infi_tracing/native/_core.c
