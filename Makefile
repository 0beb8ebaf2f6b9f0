# The two quick-start commands: `make demo` (set up, render samples/story.txt) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-quick check docs bench clean

$(BIN)/ttvd: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(BIN)/ttvd

demo: setup
	$(BIN)/ttvd render samples/story.txt -o output/sample.mp4

test: setup
	$(BIN)/python -m pytest -q

test-quick: setup  # the developer's loop: no fault injection, no stand-in servers, no real processes
	$(BIN)/python -m pytest -q -m "not faults and not slow and not online"

check: setup  # linters and the type checker; clean before every commit
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	$(BIN)/ruff check ttvd tests bench
	$(BIN)/mypy

docs: setup  # regenerate the settings table of docs/settings.md, the env file example's listing and the template unit
	$(BIN)/python -m ttvd.config --update docs/settings.md
	$(BIN)/python -m ttvd.config --update-env systemd/ttvd.env.example
	$(BIN)/python -m ttvd.install --update-template systemd

bench: setup  # by hand, not in CI (30-45 min on 2 cores); each writes its raw results to docs/results/
	$(BIN)/python -m bench --record docs/results          # render speed: 30 and 60 s at 1080x1920 against the encode floor
	$(BIN)/python -m bench.graph --record docs/results    # the default render's filter graph into -f null against x264
	$(BIN)/python -m bench.workers --record docs/results  # one daemon draining four jobs with 1 and 2 workers
	$(BIN)/python -m bench.load --record docs/results     # GET /status and GET /jobs on loopback, 1,000 and 10,000 jobs

clean:
	rm -rf $(VENV) build *.egg-info
