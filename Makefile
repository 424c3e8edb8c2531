# make demo  - build into a local venv and trace a small gevent program
# make test  - build, lint (ruff, the stub against the module) and run the whole test suite
# PYTHON=/path/to/python3.12 make test   - the same with another interpreter
# make test-asan - native-heavy tests against an ASan+UBSan build (own venv)
# make test-tsan - the ring buffer stress test under ThreadSanitizer
# make test-fuzz - the native trace reader under libFuzzer (ASan + UBSan), a million runs
PYTHON ?= python3
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV ?= .venv/$(PYVER)
VPY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
BUILT := $(VENV)/.infi-tracing-installed
SOURCES := setup.py setup.cfg pyproject.toml $(shell find infi_tracing infi -type f \( -name '*.py' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.h' -o -name '*.pyi' \))
PYTEST_ARGS ?=

.PHONY: demo test test-asan test-tsan test-fuzz fuzz-tools lint lint-ruff lint-stub bench-quick bench bench-readme \
	bench-seed bench-drain bench-soak clean venv syslog-daemons

venv: $(DEPS)

$(VPY):
	@test -n "$(PYVER)" || { echo "PYTHON=$(PYTHON) is not a working interpreter"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

$(DEPS): requirements-dev.txt | $(VPY)
	$(VPY) -m pip install -q -r requirements-dev.txt
	touch $@

EXAMPLE_PLUGIN := examples/infi-tracing-sink-example

# The plugin's sources only: pip writes build/ and *.egg-info there, which would
# make every other interpreter's venv look stale.
EXAMPLE_SOURCES := $(wildcard $(EXAMPLE_PLUGIN)/*.py $(EXAMPLE_PLUGIN)/*.toml)

$(BUILT): $(DEPS) $(SOURCES) $(EXAMPLE_SOURCES)
	$(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall .
	$(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall ./$(EXAMPLE_PLUGIN)
	touch $@

demo: $(BUILT)
	$(VPY) examples/gevent_demo.py

test: $(BUILT) lint syslog-daemons fuzz-tools
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# lint-ruff needs the dependencies only; lint-stub checks _core.pyi and analysis/_reader.pyi against the built modules
# with mypy's stubtest (names, signatures, defaults; tests/native/stubtest-allowlist.txt has
# what Cython adds).  Disjoint bases (PEP 800) are not checked: no stub consumer relies on them.
lint: lint-ruff lint-stub

lint-ruff: $(DEPS)
	$(VENV)/bin/ruff check infi_tracing infi tests benchmarks examples

lint-stub: $(BUILT)
	$(VENV)/bin/stubtest --mypy-config-file pyproject.toml --ignore-disjoint-bases \
	  --allowlist tests/native/stubtest-allowlist.txt infi_tracing.native._core \
	  infi_tracing.analysis._reader

syslog-daemons:
	.ci/install-syslog-daemons

# make test-asan: the extension built with AddressSanitizer and UndefinedBehaviorSanitizer
# (INFI_TRACING_SANITIZE, read by setup.py; its own build directory) into its own venv,
# .venv/asan-X.Y, so the normal venv keeps the normal build.  The interpreter is not
# instrumented: libasan is preloaded (it must come first) with libstdc++ (so ASan's
# __cxa_throw interceptor finds the real one when greenlet, C++, throws).  PYTHONMALLOC=malloc:
# Python objects come from malloc, so ASan sees overruns and use-after-free of objects our code
# touches.  Leaks are not checked (CPython leaves much allocated at exit).  ASan reports go to
# files in $(ASAN_LOGS), since many tests run programs in subprocesses whose stderr a test may
# not check: any report fails the run.  gcc's UBSan runtime, combined with ASan, ignores
# log_path and writes to the process's stderr; the build stops at the first UBSan finding
# (-fno-sanitize-recover), so the process exits with status 1 and fails its test.
# tests/native/asan.supp says why greenlet's stack copies are exempt.
ASAN_VENV := .venv/asan-$(PYVER)
ASAN_LOGS := $(ASAN_VENV)/reports
# The tests marked "native" (pyproject.toml's markers; a module-level pytestmark).
ASAN_TESTS ?= -m native
# ASan's quarantine keeps freed memory from being reused at once, which this test needs.
ASAN_DESELECT := --deselect tests/test_filter.py::test_decision_cache_is_safe_when_code_addresses_are_reused
ASAN_ENV = LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so.6)" \
	PYTHONMALLOC=malloc \
	ASAN_OPTIONS=detect_leaks=0:log_path=$(abspath $(ASAN_LOGS))/asan:suppressions=$(abspath tests/native/asan.supp) \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

$(ASAN_VENV)/.infi-tracing-installed: $(SOURCES)
	$(MAKE) --no-print-directory VENV=$(ASAN_VENV) $(ASAN_VENV)/.deps-installed
	INFI_TRACING_SANITIZE=address,undefined $(ASAN_VENV)/bin/python -m pip install -q \
	  --no-build-isolation --no-deps --force-reinstall . ./$(EXAMPLE_PLUGIN)
	for so in native/_core analysis/_reader; do \
	  ldd $(ASAN_VENV)/lib/python$(PYVER)/site-packages/infi_tracing/$$so*.so | grep -q libasan || exit 1; \
	done
	touch $@

test-asan: $(ASAN_VENV)/.infi-tracing-installed
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@status=0; $(ASAN_ENV) $(ASAN_VENV)/bin/pytest -p no:cacheprovider $(ASAN_DESELECT) $(ASAN_TESTS) $(PYTEST_ARGS) || status=$$?; \
	if [ -n "$$(ls -A $(ASAN_LOGS))" ]; then \
	  for f in $(ASAN_LOGS)/*; do echo "=== sanitizer report $$f"; cat "$$f"; done; \
	  echo "=== test-asan: sanitizer reports above"; exit 1; \
	fi; \
	echo "=== test-asan: no ASan report (UBSan: see any failed test; pytest exit status $$status)"; exit $$status

# make test-tsan: tests/native/ring_stress.c (the ring with a producer and a drain thread)
# built with -fsanitize=thread and run by tests/test_ring_stress.py, longer than in make test.
RING_STRESS_RECORDS ?= 1000000
test-tsan: $(BUILT)
	RING_STRESS_RECORDS=$(RING_STRESS_RECORDS) $(VENV)/bin/pytest -p no:cacheprovider -s tests/test_ring_stress.py

# make test-fuzz: the native reader fuzzed (tests/fuzz/fuzz_reader.c: libFuzzer, ASan, UBSan;
# tests/fuzz/build-harness has the flags) for FUZZ_RUNS executions, failing if it takes more
# than FUZZ_MAX_TIME seconds to get there.  Seeds are made fresh from real traces
# (tests/fuzz/make_seeds.py) next to the inputs that once crashed (tests/fuzz/crashes/); what
# the fuzzer finds interesting stays in $(FUZZ_DIR)/corpus for the next run.  A crash, hang
# (-timeout) or sanitizer report stops it, fails, and leaves the input in $(FUZZ_DIR)/artifacts/.
FUZZ_DIR := build/fuzz
FUZZ_RUNS ?= 1000000
FUZZ_MAX_TIME ?= 900
FUZZ_ARGS ?=
fuzz-tools:
	.ci/install-fuzz-tools

test-fuzz: $(BUILT) fuzz-tools
	tests/fuzz/build-harness $(FUZZ_DIR)/fuzz_reader
	rm -rf $(FUZZ_DIR)/seeds && $(VPY) tests/fuzz/make_seeds.py $(FUZZ_DIR)/seeds
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	@echo "=== fuzzing the reader: $(FUZZ_RUNS) runs (at most $(FUZZ_MAX_TIME) s); log in $(FUZZ_DIR)/last.log"
	@status=0; start=$$(date +%s); \
	$(FUZZ_DIR)/fuzz_reader -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_MAX_TIME) -max_len=16384 \
	  -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/ \
	  $(FUZZ_ARGS) $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds $(wildcard tests/fuzz/crashes) \
	  > $(FUZZ_DIR)/last.log 2>&1 || status=$$?; \
	runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/last.log); \
	if [ $$status != 0 ]; then \
	  grep -v -E "^#[0-9]+[[:space:]]+(NEW|REDUCE)" $(FUZZ_DIR)/last.log | tail -n 60; \
	  echo "=== test-fuzz: FAILED (status $$status): the input is in $(FUZZ_DIR)/artifacts/;"; \
	  echo "    replay it: $(FUZZ_DIR)/fuzz_reader FILE; add it to tests/fuzz/crashes/"; exit 1; \
	fi; \
	grep -E '^(stat::|Done)' $(FUZZ_DIR)/last.log; \
	if [ "$${runs:-0}" -lt $(FUZZ_RUNS) ]; then \
	  echo "=== test-fuzz: FAILED: $${runs:-0} runs in $(FUZZ_MAX_TIME) s, fewer than $(FUZZ_RUNS)"; exit 1; \
	fi; \
	echo "=== test-fuzz: $$runs runs in $$(( $$(date +%s) - start )) s, no crash, hang or sanitizer report"

bench-quick: $(BUILT)
	$(VPY) benchmarks/tight_loop.py --quick

# make bench: benchmarks/compare.py (infi_tracing vs viztracer, cProfile, yappi) under each of
# Python 3.10-3.13 found (pythonX.Y on PATH, then pyenv, as .ci/find-other-python looks), each
# in its own venv with the peers pip-installed; results in benchmarks/results/ (tables, charts:
# tracked in git), then the README's figures are regenerated (bench-readme).  A peer pip
# cannot install is reported as n/a.  BENCH_ARGS=--quick for a short run.
bench:
	@status=0; \
	for v in 3.10 3.11 3.12 3.13; do \
	  py=""; \
	  for cand in "python$$v" "$$(command -v pyenv >/dev/null 2>&1 && pyenv prefix "$$v" 2>/dev/null)/bin/python3"; do \
	    if command -v "$$cand" >/dev/null 2>&1 && \
	       "$$cand" -c "import sys, venv, ensurepip; sys.exit('%d.%d' % sys.version_info[:2] != '$$v')" >/dev/null 2>&1; then \
	      py=$$(command -v "$$cand"); break; \
	    fi; \
	  done; \
	  if [ -z "$$py" ]; then echo "=== bench: no Python $$v found (PATH, pyenv): skipped"; continue; fi; \
	  echo "=== bench: Python $$v: $$py"; \
	  $(MAKE) --no-print-directory PYTHON="$$py" .venv/$$v/.infi-tracing-installed || { status=1; continue; }; \
	  for pkg in viztracer yappi matplotlib; do \
	    .venv/$$v/bin/python -m pip install -q $$pkg || echo "=== bench: pip install $$pkg failed for Python $$v"; \
	  done; \
	  .venv/$$v/bin/python benchmarks/compare.py $(BENCH_ARGS) || status=1; \
	done; \
	$(PYTHON) benchmarks/readme_section.py || status=1; \
	exit $$status

# The README's benchmark figures (between its bench-results markers) from benchmarks/results/.
bench-readme:
	$(PYTHON) benchmarks/readme_section.py

# The 2013 seed's benchmark (foo() -> bar() + time(), 5 samples of 5 s per configuration),
# records per second each sink drains, and a 10-minute RSS soak; BENCH_ARGS=--quick where the
# script has it (rss_soak: e.g. BENCH_ARGS="--minutes 2").  seed and drain start a real
# rsyslogd (make syslog-daemons installs one).
bench-seed: $(BUILT)
	$(VPY) benchmarks/seed_benchmark.py $(BENCH_ARGS)

bench-drain: $(BUILT)
	$(VPY) benchmarks/drain_throughput.py $(BENCH_ARGS)

bench-soak: $(BUILT)
	$(VPY) benchmarks/rss_soak.py $(BENCH_ARGS)

clean:
	rm -rf .venv build *.egg-info infi_tracing/native/_core.c infi_tracing/analysis/_reader.c
