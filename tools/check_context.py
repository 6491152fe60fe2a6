#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""What every stage of "make check" shares: :class:`Runner`.

The repository, the tree, the Python with patched nova installed, the
concurrency; a command run with its output shown and kept; each stage's
counts recorded into the total and the report. And the test suites run
with stestr (unit, functional, upstream-functional), which differ only
in which modules they run.
"""

import os
import pathlib
import re
import subprocess
import sys
import time

import patchq
from testrun import Counts
from testrun import module_of
from testrun import parse_stestr
from testrun import TEST_ENV


class Runner:
    """One run of the checks on one release's tree.

    The context each stage takes: ``root``, ``tree``, ``python``,
    ``concurrency``, ``queue`` (the release's patchq.Queue), :meth:`run`
    and :meth:`stage`.
    """

    def __init__(self, root, tree, python, concurrency):
        self.root = pathlib.Path(root)
        self.tree = pathlib.Path(tree)
        self.python = python
        self.concurrency = concurrency
        self.queue = patchq.Queue(self.root)
        self.total = Counts()
        self.report = []
        #: The wheel the packages stage built from this tree, this run.
        self.wheel = None
        #: Every upstream unit module mapped, on any release.
        self.every_upstream_unit = False

    def run(self, cmd, cwd, env=None):
        """Run ``cmd``, showing its output as it comes: (status, output)."""
        print(f'$ {" ".join(cmd)}', flush=True)
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        out = []
        for line in proc.stdout:
            sys.stdout.write(line)
            out.append(line)
        sys.stdout.flush()
        return proc.wait(), ''.join(out)

    def stage(self, name, counts, seconds):
        """Record a stage's counts in the total and the report."""
        self.total += counts
        self.report.append(f'{name:<12} {counts}  ({seconds:.0f} s)')
        print(f'== {name}: {counts} ({seconds:.0f} s)\n', flush=True)

    def stestr(self, name, test_path, modules, exclude=()):
        """Run ``modules`` (None: every test under ``test_path``) with stestr.

        :param exclude: modules left out of the run
        """
        start = time.monotonic()
        what = ('every test module' if modules is None
                else f'{len(modules)} test modules')
        print(f'== {name}: {what} under {test_path}'
              f'{f", but {len(exclude)} of ours" if exclude else ""}',
              flush=True)
        if modules is not None and not modules:
            self.stage(name, Counts(), 0)
            return
        filters = [rf'^{re.escape(m)}(\.|$)' for m in modules or ()]
        if exclude:
            filters = ['--exclude-regex', '|'.join(
                rf'^{re.escape(m)}(\.|$)' for m in exclude)] + filters
        env = dict(os.environ, **TEST_ENV)
        rc, out = self.run(
            [self.python, '-m', 'stestr', f'--test-path={test_path}',
             'run', f'--concurrency={self.concurrency}'] + filters,
            cwd=self.tree, env=env)
        counts = parse_stestr(out)
        if counts is None:
            counts = Counts(failed=1)  # the run died before any result
        elif rc and not counts.failed:
            counts.failed += 1
        self.stage(name, counts, time.monotonic() - start)

    def upstream_functional(self, every=False):
        """Upstream's functional tests: those mapped, or ``every`` one."""
        if every:
            self.stestr('upstream-functional', './nova/tests/functional',
                        None, exclude=self.our_tests('functional'))
        else:
            self.stestr('upstream-functional', './nova/tests/functional',
                        self.upstream_modules('functional'))

    def our_tests(self, kind):
        """Our ``kind`` (unit, functional) test modules, from the overlay."""
        prefix = f'nova/tests/{kind}/'
        return [module_of(n) for n in self.queue.overlay_files()
                if n.startswith(prefix) and
                re.search(r'/test_[^/]*\.py$', n)]

    def upstream_modules(self, kind, files=None):
        """The upstream ``kind`` test modules upstream-tests.txt maps.

        ``files``: only those of these upstream files.
        """
        prefix = f'nova.tests.{kind}.'
        upstream = []
        for target, modules in self.queue.tests_map().items():
            if files is None or target in files:
                upstream += [m for m in modules
                             if m not in upstream and m.startswith(prefix)]
        return upstream

    def differing_files(self):
        """Upstream files this release changes otherwise than the default.

        None on the default release (every file). Elsewhere, the files
        whose override changes other lines than the series' patch: where
        an override only carries the same change into other context, the
        default release's run of the file's upstream tests proves it.
        """
        if self.queue.pin.default or self.every_upstream_unit:
            return None
        return [t for t in self.queue.overrides()
                if not self.queue.same_change(t)]

    def unit_modules(self):
        """Our unit test modules, then upstream's that we map.

        On a release other than the default, upstream's only for the files
        it changes otherwise (:meth:`differing_files`): CI's time
        (doc/source/contributor/xloud-ci.rst).
        """
        return self.our_tests('unit') + self.upstream_modules(
            'unit', self.differing_files())

    def unit(self):
        """Our unit tests and the upstream ones upstream-tests.txt maps."""
        self.stestr('unit', './nova/tests/unit', self.unit_modules())

    def our_unit(self):
        """Our unit tests alone (a release's other Pythons)."""
        self.stestr('unit', './nova/tests/unit', self.our_tests('unit'))

    def functional(self):
        """Our functional tests."""
        self.stestr('functional', './nova/tests/functional',
                    self.our_tests('functional'))
