# XLoud Nova: build the patched Nova packages and prove them.
#
#   make dist          patched wheel + sdist, and xloud-nova (a file and a
#                      wheel), in dist/
#   make check         every test (installs Debian packages when root)
#   make check-all     make check for every release x Python (what CI runs)
#   make check-queue   seconds: do the patches still apply, no copies?
#   make check-kolla   xloud-nova in a kolla-like venv (root; PYTHON=...)
#   make bump          record a changed queue as +xloud.N+1 (see README)
#   make check-hypervisor  only the real libvirt + QEMU suite (root)
#   make check-upstream    upstream's whole functional suite, patched tree
#   make docs          doc/, api-ref/, releasenotes/ with -W: build/docs/html
#   make bench         benchmarks (not in check): build/bench/results.md
#   make tree          materialize the patched tree in build/tree
#   make refresh       write edits made in build/tree back to patches/
#   make aio           a one-node cloud of real services from dist/ (root)
#   make aio-down      stop exactly what "make aio" started

# The interpreter of the virtualenv: PYTHON=<path> on the command line
# ("make check NOVA=29.4.0 PYTHON=$(python3 tools/patchq.py python 3.10)")
# gives it a virtualenv of its own, .venv[-<release>]-py<X.Y>.
PYTHON ?= python3
# Our tools outside a virtualenv: Debian 12's python3 (3.11), whatever
# PYTHON is.
TOOLS_PYTHON ?= python3
# The nova release to build and test: NOVA=<version> names any release
# upstream.toml pins ("make check NOVA=31.3.1"); the default otherwise.
# Each release has its own virtualenv, tree and constraints.
RELEASES := $(shell $(TOOLS_PYTHON) tools/patchq.py releases)
DEFAULT_NOVA := $(firstword $(RELEASES))
NOVA ?= $(DEFAULT_NOVA)
export NOVA
# A Python other than python3 must not find a python3's venv (make's own
# environment would pass PYTHON on to the tools otherwise).
unexport PYTHON
ifeq ($(origin PYTHON),command line)
VENV_PY := -py$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
endif
ifeq ($(NOVA),$(DEFAULT_NOVA))
VENV ?= .venv$(VENV_PY)
TREE ?= build/tree
else
VENV ?= .venv-$(NOVA)$(VENV_PY)
TREE ?= build/tree-$(NOVA)
endif
CONSTRAINTS ?= constraints/$(NOVA).txt
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PATCHQ := $(PY) tools/patchq.py

.PHONY: aio aio-down
.PHONY: help dist check check-kolla check-all check-hypervisor check-upstream bench check-queue bump tree refresh packages install-tree docs clean

help:
	@sed -n '3,17p' Makefile

# The virtualenv every step runs in. Debian's python3 needs python3-venv
# for this; that one package is installed here because bindep itself
# needs the virtualenv to run.
$(PY):
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  echo "python3-venv is missing; installing it with apt-get"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)

# pbr, setuptools and wheel: the build backends of our packages, which we
# build without build isolation (see "patchq install"; xloud-nova needs
# setuptools 77).
$(VENV)/.base: $(PY) $(CONSTRAINTS)
	$(PIP) install -q -c $(CONSTRAINTS) pip build bindep pbr 'setuptools>=77' wheel \
	  'tomli; python_version < "3.11"'
	@touch $@

tree: $(VENV)/.base
	$(PATCHQ) tree --tree $(TREE)

refresh: $(VENV)/.base
	$(PATCHQ) refresh --tree $(TREE)

check-queue: $(VENV)/.base
	$(PATCHQ) check
	$(PATCHQ) check-version

# Record the queue as the next release of ours (+xloud.N+1), in the commit
# that changes it: "make check-queue" fails until then.
bump:
	$(TOOLS_PYTHON) tools/patchq.py bump

# The packages of this release, and xloud-nova, the single-file in-place
# patcher that carries every pinned release (tools/inplace.py).
dist: tree
	$(PATCHQ) dist --tree $(TREE)
	$(PY) tools/inplace.py build --out dist/xloud-nova --package dist

# Debian packages from bindep.txt's "test", "doc" and "aio" profiles
# (root installs them; "aio" is the end-to-end stage's cloud).
packages: $(VENV)/.base
	VENV=$(VENV) tools/install-packages.sh test doc aio

# The patched nova, editable so the tests run against build/tree, with its
# test requirements, placement for the functional tests and hypothesis for
# their model-based test (test_xloud_model). Installing it
# (not just putting it on sys.path) makes its entry points live.
# libvirt-python (the real-hypervisor suite) only where libvirt's headers
# are: "packages" installs them as root. Also upstream's doc requirements,
# and the OpenStackClient plugin (editable, with its test requirements,
# python-openstackclient among them), whose commands the docs render: only
# for the default release, the one whose docs and plugin tests run.
# "patchq install" installs the dependencies first with no PBR_VERSION set,
# then our packages alone with it: a pbr dependency built from its sdist
# would otherwise take our version and be refused.
ifeq ($(NOVA)$(VENV_PY),$(DEFAULT_NOVA))
SHARED_EDITABLES = --editable xloud-osc
SHARED_REQUIREMENTS = -r $(TREE)/doc/requirements.txt \
	  -r xloud-osc/test-requirements.txt
endif
# Ceilometer's notification meter code, for the functional tests that rate
# what Nova sends (nova/tests/fixtures/xloud_ceilometer.py): the pinned
# release without its dependencies, unpacked outside the virtualenv's
# packages and put on its sys.path by a .pth file, with no metadata, so
# that "pip check" does not count it as installed.
CEILOMETER = $(abspath $(VENV))/xloud-ceilometer
install-tree: packages tree
	$(PATCHQ) install --tree $(TREE) $(SHARED_EDITABLES) -- -q \
	  -c $(CONSTRAINTS) -r $(TREE)/test-requirements.txt \
	  $(SHARED_REQUIREMENTS) openstack-placement jsonpath-rw-ext hypothesis \
	  $$(pkg-config --exists libvirt 2>/dev/null && echo libvirt-python)
	rm -rf $(CEILOMETER)
	$(PIP) install -q --no-deps --target $(CEILOMETER) -c $(CONSTRAINTS) \
	  ceilometer
	rm -rf $(CEILOMETER)/*.dist-info $(CEILOMETER)/bin
	echo $(CEILOMETER) > "$$($(PY) -c 'import sysconfig; \
	  print(sysconfig.get_paths()["purelib"])')/xloud-ceilometer.pth"

check: install-tree
	$(PY) tools/run_checks.py --tree $(TREE) $(CHECK_ARGS)

# Every cell of CI's matrix: each release on each Python upstream.toml
# lists for it ("patchq cells"; doc/source/contributor/xloud-ci.rst says
# what each cell runs and why): "make check NOVA=<release>", with
# PYTHON=<that Python> where it is not python3's. Each cell prints its
# aggregate line; the end of the log repeats every cell's summary, each
# cell's time and the total, and what failed.
check-all:
	@failed=; all=$$(date +%s); mkdir -p build; : > build/check-cells.txt; \
	own=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	cells=$$($(TOOLS_PYTHON) tools/patchq.py cells | tr ' ' :); \
	for cell in $$cells; do \
	  r=$${cell%:*}; py=$${cell#*:}; python=; start=$$(date +%s); \
	  rm -f build/check-summary-$$r-py$$py.txt; \
	  if [ "$$py" != "$$own" ]; then \
	    python=PYTHON=$$($(TOOLS_PYTHON) tools/patchq.py python $$py) || { \
	      failed="$$failed $$r/$$py"; continue; }; fi; \
	  echo "==== make check NOVA=$$r $$python"; \
	  $(MAKE) --no-print-directory check NOVA=$$r $$python \
	    CHECK_ARGS=--cell || \
	    failed="$$failed $$r/$$py"; \
	  echo "   nova $$r on Python $$py: $$(( $$(date +%s) - start )) s" \
	    >> build/check-cells.txt; \
	done; \
	echo "==== every cell"; \
	for cell in $$cells; do \
	  r=$${cell%:*}; py=$${cell#*:}; \
	  cat build/check-summary-$$r-py$$py.txt 2>/dev/null || \
	    echo "== nova $$r on Python $$py: no summary (make, or the checks, stopped before the end: see above)"; \
	done; \
	echo "==== each cell's time"; cat build/check-cells.txt; \
	echo "   total: $$(( $$(date +%s) - all )) s"; \
	if [ -n "$$failed" ]; then echo "==== failed on:$$failed"; exit 1; fi

# xloud-nova on a venv laid out as kolla's /var/lib/kolla/venv, of the
# interpreter PYTHON (the Python of the images of the release: 3.12 for
# Ubuntu 24.04, 3.10 for 22.04), with upstream nova==$(NOVA) and its
# dependencies under $(CONSTRAINTS): apply, status, the functional smoke
# set, revert and every file's content, mode and owner compared, with the
# venv owned by root (as kolla builds it) and then by kolla's nova user
# (created if missing). As root; needs no virtualenv of ours. The check
# itself runs on TOOLS_PYTHON (python3), which PYTHON need not be.
check-kolla:
	$(TOOLS_PYTHON) tools/inplace.py check --release $(NOVA) --kolla $(PYTHON)

# Benchmarks, not tests: ratios against upstream paths and bare libvirt,
# measured in one run (tools/bench.py --help). BENCH_ARGS="--repeat 5".
bench: install-tree
	$(PY) tools/bench.py --tree $(TREE) $(BENCH_ARGS)

# doc/, api-ref/ and releasenotes/ of the patched tree, as upstream's
# tox.ini builds them (sphinx-build -W), then checked (tools/docs.py).
docs: install-tree
	$(PY) tools/run_checks.py --tree $(TREE) --only docs

# Upstream's whole functional suite (nova/tests/functional, every module
# but ours) on the patched tree of $(NOVA): not in "make check", which runs
# the modules upstream-tests.txt maps; and the unit tests with every
# upstream module mapped, which "make check" runs on the default release
# only. Run it before resolving a change to patches/.
check-upstream: install-tree
	$(PY) tools/run_checks.py --tree $(TREE) --only upstream-functional \
	  --every-upstream-functional --only unit --every-upstream-unit

# Only the real-hypervisor stage (root): libvirtd, QEMU and a real guest.
check-hypervisor: install-tree
	$(PY) tools/run_checks.py --tree $(TREE) --only hypervisor

# A one-node cloud (tools/aio.py): MariaDB, RabbitMQ, Keystone,
# Placement, Glance, the Neutron API and the patched Nova on libvirt/QEMU,
# from the packages in dist/, on 127.0.0.1. Idempotent. COMPUTES=2: two
# nova-computes, each on a libvirtd of its own (127.0.0.2, 127.0.0.3).
aio: dist
	VENV=$(VENV) tools/install-packages.sh aio
	$(PY) tools/aio.py up $(if $(COMPUTES),--computes $(COMPUTES))

aio-down:
	$(TOOLS_PYTHON) tools/aio.py down

clean:
	rm -rf build dist
