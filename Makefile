# XLoud Nova: build the patched Nova packages and prove them.
#
#   make dist          patched wheel + sdist, and xloud-nova (a file and a
#                      wheel), in dist/
#   make check         every test (installs Debian packages when root)
#   make check-all     make check for every pinned release (what CI runs)
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

PYTHON ?= python3
# The nova release to build and test: NOVA=<version> names any release
# upstream.toml pins ("make check NOVA=31.3.1"); the default otherwise.
# Each release has its own virtualenv, tree and constraints.
# (Our tools need Python 3.11; check-kolla takes an older PYTHON too.)
RELEASES := $(shell $(PYTHON) tools/patchq.py releases 2>/dev/null || \
  python3 tools/patchq.py releases)
DEFAULT_NOVA := $(firstword $(RELEASES))
NOVA ?= $(DEFAULT_NOVA)
export NOVA
ifeq ($(NOVA),$(DEFAULT_NOVA))
VENV ?= .venv
TREE ?= build/tree
else
VENV ?= .venv-$(NOVA)
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
	$(PIP) install -q -c $(CONSTRAINTS) pip build bindep pbr 'setuptools>=77' wheel
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
	$(PYTHON) tools/patchq.py bump

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
ifeq ($(NOVA),$(DEFAULT_NOVA))
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
	$(PY) tools/run_checks.py --tree $(TREE)

# The default release in full, then each other release (its stages that
# differ by release); each prints its own aggregate line, and the end of
# the log repeats every release's summary and what failed.
check-all:
	@failed=; for r in $(RELEASES); do \
	  echo "==== make check NOVA=$$r"; rm -f build/check-summary-$$r.txt; \
	  $(MAKE) --no-print-directory check NOVA=$$r || failed="$$failed $$r"; \
	done; \
	echo "==== every release"; \
	for r in $(RELEASES); do \
	  cat build/check-summary-$$r.txt 2>/dev/null || \
	    echo "== nova $$r: no summary (make, or the checks, stopped before the end: see above)"; \
	done; \
	if [ -n "$$failed" ]; then echo "==== failed on:$$failed"; exit 1; fi

# xloud-nova on a venv laid out as kolla's /var/lib/kolla/venv, of the
# interpreter PYTHON (the Python of the images of the release: 3.12 for
# Ubuntu 24.04, 3.10 for 22.04), with upstream nova==$(NOVA) and its
# dependencies under $(CONSTRAINTS): apply, status, the functional smoke
# set, revert and every file's content, mode and owner compared, with the
# venv owned by root (as kolla builds it) and then by kolla's nova user
# (created if missing). As root; needs no virtualenv of ours. The check
# itself runs on python3 (3.11 or newer), which PYTHON may not be.
check-kolla:
	python3 tools/inplace.py check --release $(NOVA) --kolla $(PYTHON)

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
# the modules upstream-tests.txt maps. Run it before resolving a change to
# patches/.
check-upstream: install-tree
	$(PY) tools/run_checks.py --tree $(TREE) --only upstream-functional \
	  --every-upstream-functional

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
	$(PYTHON) tools/aio.py down

clean:
	rm -rf build dist
