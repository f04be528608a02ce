# The two commands of the README: `make demo` runs the main job, `make test` the whole suite.
# Both set everything up from a fresh clone (a virtualenv in .venv).

.PHONY: demo test bench lint clean

demo:
	@test -x .venv/bin/python || python3 -m venv .venv
	@.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[all]' 2>&1 | grep -v 'is ignored' || true
	.venv/bin/python -m greencql demo

test:
	./scripts/test

bench:
	.venv/bin/python bench/codec.py

lint:
	.venv/bin/ruff check .

clean:
	rm -rf .venv build *.egg-info
