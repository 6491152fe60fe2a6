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

"""The quick stages of "make check": each a function of the Runner.

queue (patchq check), flake8 (+ hacking), tools (the tools' own tests),
osc (the plugin's unit tests) and docs (the three books with -W).
"""

import os
import re
import subprocess
import time

import docs
import patchq
from testrun import Counts
from testrun import parse_stestr
from testrun import parse_unittest


def queue(runner):
    """patchq check: this release's, or every release's for the default."""
    start = time.monotonic()
    pins = ([p for p in patchq.load_pins(runner.root)]
            if runner.queue.pin.default else [runner.queue.pin])
    print(f'== queue: patchq check on '
          f'{", ".join(p.version for p in pins)}', flush=True)
    counts = Counts()
    for pin in pins:
        problems = patchq.Queue(runner.root, pin=pin).check()
        print(f'   {pin.version}: '
              f'{"ok" if not problems else "FAILED"}')
        for p in problems:
            print(f'   {pin.version}: {p}')
        counts += Counts(passed=int(not problems),
                         failed=int(bool(problems)))
    problems = patchq.check_version(runner.root)
    print(f'   version xloud {runner.queue.pin.release}: '
          f'{"ok" if not problems else "FAILED"}')
    for p in problems:
        print(f'   version: {p}')
    counts += Counts(passed=int(not problems), failed=int(bool(problems)))
    runner.stage('queue', counts, time.monotonic() - start)


def lint_targets(runner):
    """New and patched Python files, as paths inside the tree.

    Our tools are linted too, by absolute path, under the same rules.
    """
    new = [n for n in runner.queue.overlay_files() if n.endswith('.py')]
    patched = [t for _, t in runner.queue.patches() if t.endswith('.py')]
    tools = [str(runner.root / n) for n in runner.queue.repo_files()
             if n.startswith('tools/') and n.endswith('.py')]
    if not runner.queue.pin.default:
        tools = []  # the same files on every release: linted once
    return sorted(set(new + patched)) + tools


def flake8(runner):
    """flake8 + hacking on lint_targets(), and on each plugin's files."""
    start = time.monotonic()
    files = lint_targets(runner)
    print(f'== flake8 + hacking on {len(files)} new or patched files',
          flush=True)
    counts = Counts()
    if files:
        # upstream's tox.ini [flake8] config and local N-checks apply
        # because flake8 runs from the tree's root.
        counts = flake8_counts(runner, files, runner.tree)
    # Each plugin is its own distribution, linted from its directory
    # under its own configuration (plain flake8 + hacking), once.
    for directory in patchq.PLUGINS if runner.queue.pin.default else ():
        prefix = directory + '/'
        files = [n[len(prefix):] for n in runner.queue.repo_files()
                 if n.startswith(prefix) and n.endswith('.py')]
        print(f'== flake8 + hacking on {len(files)} files of '
              f'{directory}', flush=True)
        counts += flake8_counts(runner, files, runner.root / directory)
    runner.stage('flake8', counts, time.monotonic() - start)


def flake8_counts(runner, files, cwd):
    """Run flake8 on ``files`` from ``cwd``: a file passes or fails."""
    rc, out = runner.run([runner.python, '-m', 'flake8', '--'] + files,
                         cwd=cwd)
    bad = {line.split(':', 1)[0] for line in out.splitlines()
           if re.match(r'^\S+\.py:\d+:\d+: ', line)}
    if rc and not bad:
        bad = set(files)  # flake8 itself failed
    return Counts(passed=len(files) - len(bad), failed=len(bad))


def tool_tests(runner):
    """The tools' own tests (tools/tests), with unittest."""
    start = time.monotonic()
    print('== patch-queue tool tests', flush=True)
    rc, out = runner.run([runner.python, '-m', 'unittest', 'discover', '-v',
                          '-s', 'tools/tests'], cwd=runner.root)
    counts = parse_unittest(out) or Counts(failed=1)
    if rc and not counts.failed:
        counts.failed = 1
    runner.stage('tools', counts, time.monotonic() - start)


def plugin_tests(runner):
    """Each plugin's unit tests, with stestr from its directory."""
    start = time.monotonic()
    counts = Counts()
    for directory in patchq.PLUGINS:
        print(f'== {directory}: unit tests', flush=True)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        rc, out = runner.run(
            [runner.python, '-m', 'stestr', 'run',
             f'--concurrency={runner.concurrency}'],
            cwd=runner.root / directory, env=env)
        found = parse_stestr(out) or Counts(failed=1)
        if rc and not found.failed:
            found.failed += 1
        counts += found
    runner.stage('osc', counts, time.monotonic() - start)


def build_docs(runner):
    """doc/, api-ref/ and releasenotes/ built with -W, then checked."""
    start = time.monotonic()
    print('== docs: sphinx-build -W of the tree\'s three books',
          flush=True)
    built = docs.Docs(runner.tree, runner.root / 'build' / 'docs',
                      python=runner.python)
    try:
        results = built.everything()
    except (subprocess.CalledProcessError, OSError) as e:
        print(f'   the doc build could not start: {e}')
        results = [docs.Result('doc build', False, str(e))]
    runner.stage('docs', Counts(
        passed=sum(r.ok and not r.skipped for r in results),
        failed=sum(not r.ok for r in results),
        skipped=sum(r.skipped for r in results)),
        time.monotonic() - start)
