# The two commands of the README: `make demo` runs the main job, `make test` the whole suite.
# Both set everything up from a fresh clone (a virtualenv in .venv, from the committed lock in
# requirements/: see scripts/venv and scripts/lock).

.PHONY: demo test test-latest lock loadtest bench lint clean

demo:
	@./scripts/venv .venv demo
	.venv/bin/python -m greencql demo

test:
	./scripts/test

# The suite against the newest releases (a separate .venv-latest): upstream breakage shows up
# here before `make lock` takes it in. It may fail; that is its job.
test-latest:
	GREENCQL_VENV=.venv-latest GREENCQL_DEPS=latest ./scripts/test

# Refresh requirements/*.txt from the newest releases; review, `make test`, commit.
lock:
	./scripts/lock

# locust against a simulated 3-node cluster (see loadtests/README.md); LOADTEST_ARGS=... for more
loadtest:
	@./scripts/venv .venv test
	.venv/bin/python loadtests/run.py $(LOADTEST_ARGS)

# issue 12's benchmark suite in one run and one table, side by side with cassandra-driver,
# written into docs/benchmarks.md (bench/run_all.py; about 5 minutes on 2 cores).
# BENCH_ARGS=--quick for a short run.
bench:
	@./scripts/venv .venv test
	.venv/bin/python bench/run_all.py $(BENCH_ARGS)

lint:
	.venv/bin/ruff check .

clean:
	rm -rf .venv .venv-latest build *.egg-info
