# The two quick-start commands: `make demo` (set up, render samples/story.txt) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

$(BIN)/ttvd: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(BIN)/ttvd

demo: setup
	$(BIN)/ttvd render samples/story.txt -o output/sample.mp4

test: setup
	$(BIN)/python -m pytest -q

bench: setup  # by hand, not in CI: 30/60/180 s at 1080x1920, each engine against the encode floor
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
