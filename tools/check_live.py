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

"""The stages of "make check" on real installs, hypervisors and clouds.

inplace (xloud-nova on a pip install of upstream nova), hypervisor (the
suite against real libvirtd and QEMU) and e2e (tools/e2e on a one-node
cloud): each a function of the Runner.
"""

import json
import os
import subprocess
import sys
import time

import aio
import inplace
import patchq
import realhv
from testrun import Counts
from testrun import parse_stestr
from testrun import parse_unittest
from testrun import TEST_ENV


def in_place(runner):
    """xloud-nova on a clean pip install of upstream nova==<release>.

    apply (killed half-way, then again), status, nova/ file for file
    our wheel's, our functional tests (inplace.SMOKE, or all of them
    with XLOUD_INPLACE_FUNCTIONAL=all) run from the patched install
    with this venv's dependencies, revert (killed half-way, then
    again) and a byte-for-byte comparison with the fresh install.
    On the default release, also the command's own wheel.
    """
    start = time.monotonic()
    version = runner.queue.pin.version
    print(f'== inplace: xloud-nova on pip install nova=={version}',
          flush=True)
    work = runner.root / 'build' / 'inplace'
    try:
        script = inplace.build(runner.root, work / 'xloud-nova',
                               versions=[version])
    except patchq.QueueError as e:
        print(f'   FAIL building xloud-nova: {e}')
        return runner.stage('inplace', Counts(failed=1),
                            time.monotonic() - start)
    check = inplace.Check(
        runner.root, script, work, concurrency=runner.concurrency,
        every_test=os.environ.get('XLOUD_INPLACE_FUNCTIONAL') == 'all')
    try:
        check.release(version, functional=runner.python,
                      wheel=runner.wheel or tree_wheel(runner, work))
        if runner.queue.pin.default:
            check.package([p.version for p in
                           patchq.load_pins(runner.root)])
    except (OSError, subprocess.CalledProcessError) as e:
        check.record(f'{version}: the check could not go on', False,
                     str(e))
    passed = sum(check.results)
    runner.stage('inplace', Counts(passed=passed,
                                   failed=len(check.results) - passed),
                 time.monotonic() - start)


def tree_wheel(runner, work):
    """Our wheel of this tree, built now (the packages stage did not).

    A wheel left by an earlier run may predate the tree; comparing
    with it would fail for the wrong reason or pass for one.
    """
    try:
        return runner.queue.dist(runner.tree, work / 'dist')[0]
    except patchq.QueueError as e:
        print(f'   (no wheel of this tree to compare with: {e})',
              flush=True)
        return None


def hypervisor(runner):
    """nova/tests/hypervisor against real libvirtd, QEMU and a guest.

    Starts the daemons that are not running and stops them after,
    builds (or reuses) the guest image, and removes any domain the
    suite left behind. Where it cannot run, one loud line says why and
    the stage counts as skipped, or as failed when
    XLOUD_REQUIRE_HYPERVISOR is set (CI sets it).
    """
    start = time.monotonic()
    print('== hypervisor: real libvirtd + QEMU (TCG) + a Linux guest',
          flush=True)
    work = runner.root / 'build' / 'hypervisor'
    work.mkdir(parents=True, exist_ok=True)
    try:
        realhv.can_run()
        rc, _ = runner.run([runner.python, '-c', 'import libvirt'],
                           cwd=runner.root)
        if rc:
            raise realhv.Unavailable(
                'libvirt-python is not installed (make install-tree '
                'installs it when libvirt-dev is there)')
    except realhv.Unavailable as e:
        required = os.environ.get('XLOUD_REQUIRE_HYPERVISOR')
        print(f'!!!!! REAL-HYPERVISOR SUITE NOT RUN: {e} !!!!!',
              flush=True)
        return runner.stage('hypervisor', Counts(
            failed=int(bool(required)), skipped=int(not required)),
            time.monotonic() - start)
    timings = work / 'timings.jsonl'
    timings.unlink(missing_ok=True)
    counts = None
    try:
        with realhv.session(work, runner.root / 'build' / 'guest') as image:
            env = dict(os.environ, **TEST_ENV,
                       XLOUD_HV_IMAGE=str(image),
                       XLOUD_HV_TIMINGS=str(timings))
            rc, out = runner.run(
                [runner.python, '-m', 'stestr',
                 '--test-path=./nova/tests/hypervisor', 'run',
                 '--concurrency=1'], cwd=runner.tree, env=env)
        counts = parse_stestr(out)
        if counts is not None and rc and not counts.failed:
            counts.failed += 1
    except (realhv.Unavailable, subprocess.CalledProcessError) as e:
        print(f'   the real hypervisor failed to come up: {e}')
    if timings.exists():
        print('   timings (seconds):')
        for line in timings.read_text().splitlines():
            t = json.loads(line)
            extra = {k: v for k, v in t.items()
                     if k not in ('test', 'name', 'seconds')}
            tail = f'  {json.dumps(extra)}' if extra else ''
            print(f'   {t["seconds"]:8.3f}  {t["name"]}{tail}')
    runner.stage('hypervisor', counts or Counts(failed=1),
                 time.monotonic() - start)


def print_warnings(logs, limit=30):
    """The Nova services' last errors and Nova's warnings, on a failure.

    CI keeps the log, not the cloud: what nova-compute and the others
    said last is the first thing to read.
    """
    for log_file in sorted(logs.glob('nova-*-app.log')):
        with open(log_file, errors='replace') as f:
            lines = [line.rstrip()[:400] for line in f
                     if ' ERROR ' in line or ' WARNING nova.' in line]
        if lines:
            print(f'   {log_file.name}, its last warnings and errors:')
            for line in lines[-limit:]:
                print(f'     {line}')


def e2e(runner):
    """tools/e2e on a one-node cloud of real services, two computes.

    Brings the cloud up from the tree's packages (or reuses a running
    one), runs the tests, and tears down what it brought up, also
    after a failure. Where it cannot run, it counts as skipped, or as
    failed when XLOUD_REQUIRE_HYPERVISOR is set (CI sets it).
    """
    start = time.monotonic()
    print('== e2e: a one-node cloud of real services', flush=True)
    try:
        aio.can_run()
    except realhv.Unavailable as e:
        required = os.environ.get('XLOUD_REQUIRE_HYPERVISOR')
        print(f'!!!!! END-TO-END STAGE NOT RUN: {e} !!!!!', flush=True)
        return runner.stage('e2e', Counts(
            failed=int(bool(required)), skipped=int(not required)),
            time.monotonic() - start)
    counts = None
    try:
        # two computes: test_two_computes moves a server between them
        with aio.session(runner.tree, runner.root, computes=2) as cloud:
            up = time.monotonic() - start
            env = dict(os.environ, XLOUD_AIO_WORK=str(cloud.work))
            tests = time.monotonic()
            rc, out = runner.run(
                [sys.executable, '-m', 'unittest', 'discover', '-v',
                 '-s', 'tools/e2e', '-t', 'tools/e2e'],
                cwd=runner.root, env=env)
            counts = parse_unittest(out)
            if counts is not None and rc and not counts.failed:
                counts.failed += 1
            if rc:
                print_warnings(cloud.logs)
            print(f'   timings: cloud up {up:.0f} s, tests '
                  f'{time.monotonic() - tests:.0f} s; bring-up: ' +
                  ', '.join(f'{label} {seconds:.0f} s'
                            for label, seconds in cloud.timings))
    except (aio.Failed, realhv.Unavailable, patchq.QueueError) as e:
        print(f'   the cloud failed to come up: {e}')
    runner.stage('e2e', counts or Counts(failed=1),
                 time.monotonic() - start)
