# The two commands of the README:
#   make lab    set up (first time only) and open the course in JupyterLab
#   make test   set up (first time only) and run every test
# Set-up: a virtualenv in .venv with the pinned run-time lock requirements-lock.txt
# (torch==2.13.0, CPU build; no test package) and the course package installed
# editable; `make test` adds the test lock requirements-test-lock.txt.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PORT ?= 8888
PYTEST_ARGS ?=

.PHONY: install install-test lab test test-unit test-notebooks test-seeds book grade workspace bench notebooks badges slides classroom clean

$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade "pip>=24"
	$(PY) -m pip install -r requirements-lock.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	# jupyterlab-rise pulls in jupyterlab-mathjax3, an extension for JupyterLab 3 that
	# JupyterLab 4 cannot load (it renders math itself): switch it off.
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyterlab/mathjax3-extension
	touch $(STAMP)

install: $(STAMP)

# The test stack (pytest, nbval, playwright, ...), pinned, on top of the run-time set.
$(TEST_STAMP): $(STAMP) requirements-test-lock.txt
	$(PY) -m pip install -r requirements-test-lock.txt
	touch $(TEST_STAMP)

install-test: $(TEST_STAMP)

# JupyterLab refuses to run as root unless told to (containers, CI machines). As root, `make lab`
# says so, adds --allow-root and turns JupyterLab's terminals off: a terminal would be a root shell
# for anyone holding the server's token. The server listens on localhost only (jupyter_server's
# default); `make lab` warns when LAB_ARGS sets --ip, which can expose it to the network.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root --ServerApp.terminals_enabled=False,)

# Your workspace (python -m lm_course workspace; make workspace) when it exists, else the chapters here.
WORKSPACE ?= $(HOME)/lm-course-work
LAB_DIR ?= $(if $(wildcard $(WORKSPACE)/*.ipynb),$(WORKSPACE),notebooks)

lab: install
	@if [ "$$(id -u)" = 0 ]; then echo "make lab: running as root: adding --allow-root and turning JupyterLab's terminals off (--ServerApp.terminals_enabled=False); run as a normal user to have them"; fi
	@case "$(LAB_ARGS)" in *--ip*) echo "make lab: warning: LAB_ARGS sets --ip ($(LAB_ARGS)): anyone who can reach that address and has the token can run code here";; esac
	@if [ "$(LAB_DIR)" != notebooks ]; then echo "make lab: opening your workspace $(LAB_DIR) (make lab LAB_DIR=notebooks opens the course's own copies)"; fi
	$(VENV)/bin/jupyter lab --notebook-dir=$(LAB_DIR) --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

# Unit tests and the browser tests (tests/browser/: the course's notebooks in JupyterLab
# and Notebook 7, every widget used, about 9 minutes; the website, about 4), then every notebook under nbval
# (outputs of cells marked NBVAL_CHECK_OUTPUT are compared).
test: install-test
	$(PY) -m pip install -q -r requirements-docs.txt  # the website's browser test builds it
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS)

# The fast suite, for a developer's loop (a few minutes on 2 cores): the unit tests without the
# browser, real Jupyter kernels, virtualenvs or notebooks (markers: tests/conftest.py). There an
# unmarked test that starts a kernel fails (LM_COURSE_FAST_SUITE=1). `make test` runs everything.
test-unit: install-test
	LM_COURSE_FAST_SUITE=1 $(PY) -m pytest tests -m "not browser and not kernel and not slow" $(PYTEST_ARGS)

test-notebooks: install-test
	$(PY) -m pytest notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS)

# Every notebook on other seeds with PyTorch's generic CPU kernels (another float path),
# one thread, every cell must pass: the claims the chapters make hold on a student's run.
# `make test-seeds` runs seeds 0-9 (about an hour on 2 cores); CI runs SEEDS=1.
SEEDS ?= 0-9
test-seeds: install-test
	$(PY) tools/seed_sweep.py --seeds $(SEEDS) --generic --jobs 2 --out build/seed_sweep.md

# The course as a static website in build/book/ (open build/book/index.html): every chapter
# as committed (not re-executed), the slide decks, the teacher's guide; nothing fetched.
book: install
	$(PY) -m pip install -q -r requirements-docs.txt
	$(PY) tools/build_book.py

# A folder of your own with the chapters (default ~/lm-course-work; DIR=... to choose).
workspace: install
	$(PY) -m lm_course workspace $(DIR)

# Grade homework: make grade SUBMISSIONS=folder-of-notebooks (gradebook in ./gradebook).
grade: install
	$(PY) -m lm_course grade $(SUBMISSIONS) --out gradebook

# Re-execute every notebook in place, in order, from an empty cache (outputs committed).
notebooks: install
	OMP_NUM_THREADS=1 $(PY) tools/execute_notebooks.py --fresh-cache notebooks/*.ipynb

badges: install
	$(PY) tools/badges.py

# Every benchmark (bench/run.py; about 21 minutes on a 2-core machine), written to
# bench/RESULTS.md. Its extra packages are installed here only, not by `make install`.
# Pass options with BENCH_ARGS, e.g. make bench BENCH_ARGS="--only generation" (or "--quick").
bench: install
	$(PY) -m pip install -r requirements-bench.txt
	$(PY) bench/run.py $(BENCH_ARGS)

# Every chapter as an offline reveal.js deck in build/slides/ (open any *.slides.html;
# reveal.js and MathJax are copied beside them, nothing is fetched). Live, in JupyterLab,
# present the notebook itself: View > Appearance > Presentation Mode (widgets work;
# RISE's slide view cannot load the widget manager: docs/teaching.md, "Slides").
slides: install
	$(PY) -m lm_course slides --export build/slides

# Prepare and check this machine for a class: versions, GPT-2 cached (when the hub
# can be reached), the decks built, chapter 0's first cells run; prints READY or NOT READY.
classroom: install
	$(PY) -m lm_course classroom

clean:
	rm -rf $(VENV) data/cache .pytest_cache
