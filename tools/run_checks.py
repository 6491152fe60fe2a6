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

"""Run every check of "make check" on a materialized, installed tree.

The stages, in order: the queue check, flake8 + hacking on every new and
every patched Python file and on the OpenStackClient plugin, the
patch-queue tool's own tests, the packages (built, installed into clean
virtualenvs and run, the plugin beside python-openstackclient), the
plugin's unit tests, the docs (doc/, api-ref/ and releasenotes/ built
with sphinx-build -W, then checked), the unit tests (ours plus every
upstream module listed in upstream-tests.txt), the functional tests
(ours), the in-place patcher on a real pip install of upstream nova
(apply, status, a smoke set of our functional tests, revert to
byte-identical), the real-hypervisor suite (libvirtd, QEMU and a real guest; as
root, else counted as skipped) and the end-to-end tests on a one-node
cloud (tools/aio.py; as root, else skipped). Each stage's results
are counted, and the last line printed is the aggregate, exactly
"N passed, N failed, N skipped". The exit status is non-zero when
anything failed.

Each stage is a unit of its own, a function of the :class:`Runner` it
shares with the others (check_context): the quick ones in check_stages,
the packages in check_packages, and those on real installs, hypervisors
and clouds in check_live. This file orders them and sums them up.
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from check_context import Runner  # noqa: E402
import check_live  # noqa: E402
import check_packages  # noqa: E402
import check_stages  # noqa: E402
import patchq  # noqa: E402

STAGES = ('queue', 'flake8', 'tools', 'packages', 'osc', 'docs', 'unit',
          'functional', 'upstream-functional', 'inplace', 'hypervisor', 'e2e')
#: Stages that prove what every release shares, run on the default release
#: only: our tools, the plugin, the books and the end-to-end cloud (its
#: services run the default release's packages). The real-hypervisor suite
#: joins them where the queue check proves this release's driver patches
#: change what the default's do (patchq.Queue.driver_differs).
SHARED_STAGES = ('tools', 'osc', 'docs', 'e2e', 'hypervisor')
#: Run on the default release only, for CI's time: the upstream functional
#: modules upstream-tests.txt maps ("make check-upstream NOVA=<release>"
#: runs upstream's whole functional suite on any release).
DEFAULT_ONLY = ('upstream-functional',)
#: Run on a release's other Pythons (upstream.toml's "pythons" after the
#: first): what an interpreter can change in our code, that is our unit
#: tests (not upstream's: upstream gates its release on that Python) and
#: our functional tests.
INTERPRETER_STAGES = ('unit', 'functional')


def python_version(python):
    """"X.Y" of the interpreter ``python``."""
    return subprocess.run(
        [python, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
        capture_output=True, text=True, check=True).stdout.strip()


def release_stages(queue, python=None, cell=False):
    """The stages for ``queue``'s release on Python ``python`` ("X.Y").

    ``cell``: as a cell of "make check-all", where a release with another
    Python runs its functional tests there, not on its first: each test
    runs once per release. Returns (stages, why any are left out).
    """
    pythons = queue.pin.pythons
    if python in pythons[1:]:
        return INTERPRETER_STAGES, (
            f'Python {python}, not {queue.pin.version}\'s first ('
            f'{pythons[0]}): only what an interpreter can change, our unit '
            f'tests and our functional tests; the other stages run on '
            f'{pythons[0]}')
    stages, why = own_stages(queue)
    if cell and len(pythons) > 1:
        stages = tuple(s for s in stages if s != 'functional')
        why = '; '.join(filter(None, [why, (
            f'functional runs in the cell of Python {pythons[1]}, not here '
            f'(make check-all: once per release)')]))
    return stages, why


def own_stages(queue):
    """The stages of ``queue``'s release on its own Python, and why not."""
    if queue.pin.default:
        return STAGES, ''
    differs = queue.driver_differs()
    shared = [s for s in SHARED_STAGES
              if not (s == 'hypervisor' and differs)]
    why = (f'not run for {queue.pin.version}, proven on the default '
           f'release: {", ".join(shared)} (the tools, the plugin, the books '
           f'and the cloud\'s tests are the same files on every release')
    if 'hypervisor' in shared:
        why += ('; patchq check proves the driver patches change the same '
                'lines as the default release\'s')
    why += ('); and, for time, upstream-functional (upstream\'s functional '
            'modules that upstream-tests.txt maps; "make check-upstream '
            f'NOVA={queue.pin.version}" runs the whole suite)')
    left_out = set(shared) | set(DEFAULT_ONLY)
    return tuple(s for s in STAGES if s not in left_out), why


class FailureLines:
    """Standard output, keeping the lines that name a failed check.

    Those are repeated under the summary, so the end of a long log (all
    CI keeps) says what failed: stestr's and unittest's "... FAILED",
    "FAIL:" and "ERROR:" lines, and our stages' own "FAIL" results.
    """

    PATTERN = re.compile(r'\.\.\. (FAIL|FAILED|ERROR)\b|^\s*FAIL\b|'
                         r'^(FAIL|ERROR): ')
    LIMIT = 40

    def __init__(self, stream):
        self.stream = stream
        self.lines = []
        self._partial = ''

    def write(self, text):
        self.stream.write(text)
        *lines, self._partial = (self._partial + text).split('\n')
        for line in lines:
            if self.PATTERN.search(line):
                self.lines.append(line.strip()[:300])
        return len(text)

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def summary_path(root, version, python):
    """Where a run leaves its summary, for "make check-all" to repeat."""
    return root / 'build' / f'check-summary-{version}-py{python}.txt'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tree', default='build/tree')
    parser.add_argument('--python', default=sys.executable,
                        help='the interpreter with patched nova installed')
    parser.add_argument('--concurrency', type=int,
                        default=min(os.cpu_count() or 1, 2))
    parser.add_argument('--only', action='append', choices=STAGES,
                        help='run only this stage (repeatable)')
    parser.add_argument('--every-upstream-functional', action='store_true',
                        help='upstream-functional runs every upstream '
                        'functional test module, not only those mapped '
                        '("make check-upstream")')
    parser.add_argument('--every-upstream-unit', action='store_true',
                        help='unit runs every upstream unit module mapped, '
                        'on any release, not only those of the files it '
                        'changes otherwise than the default ("make '
                        'check-upstream")')
    parser.add_argument('--cell', action='store_true',
                        help='a cell of "make check-all": run each test '
                        'once per release, across its Pythons')
    args = parser.parse_args(argv)
    root = patchq.ROOT
    runner = Runner(root, root / args.tree, args.python, args.concurrency)
    runner.every_upstream_unit = args.every_upstream_unit
    python = python_version(args.python)
    summary = summary_path(root, runner.queue.pin.version, python)
    summary.unlink(missing_ok=True)
    start = time.monotonic()
    wanted, why = release_stages(runner.queue, python, cell=args.cell)
    interpreter_only = wanted == INTERPRETER_STAGES
    stages = {
        'queue': check_stages.queue,
        'flake8': check_stages.flake8,
        'tools': check_stages.tool_tests,
        'packages': check_packages.packages,
        'osc': check_stages.plugin_tests,
        'docs': check_stages.build_docs,
        'unit': Runner.our_unit if interpreter_only else Runner.unit,
        'functional': Runner.functional,
        'upstream-functional': lambda runner: runner.upstream_functional(
            every=args.every_upstream_functional),
        'inplace': check_live.in_place,
        'hypervisor': check_live.hypervisor,
        'e2e': check_live.e2e,
    }
    if args.every_upstream_functional and 'upstream-functional' not in wanted:
        wanted += ('upstream-functional',)  # asked for, on any release
    print(f'== nova {runner.queue.pin.local_version} on Python {python}, '
          f'tree {runner.tree}', flush=True)
    if why:
        print(f'   {why}', flush=True)
    failures = FailureLines(sys.stdout)
    sys.stdout = failures
    try:
        for name in wanted:
            if not args.only or name in args.only:
                stages[name](runner)
    finally:
        sys.stdout = failures.stream
    text = [f'== summary: nova {runner.queue.pin.local_version} on Python '
            f'{python}']
    text += [f'   {line}' for line in runner.report]
    text.append(f'   total time {time.monotonic() - start:.0f} s')
    if failures.lines:
        text.append('   what failed:')
        text += [f'     {line}' for line in
                 failures.lines[:FailureLines.LIMIT]]
        more = len(failures.lines) - FailureLines.LIMIT
        if more > 0:
            text.append(f'     ... and {more} more above')
    text.append(str(runner.total))
    print('\n'.join(text))
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text('\n'.join(text) + '\n')
    return 1 if runner.total.failed else 0


if __name__ == '__main__':
    sys.exit(main())
