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
"""

import argparse
import configparser
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import aio  # noqa: E402
import docs  # noqa: E402
import inplace  # noqa: E402
import patchq  # noqa: E402
import realhv  # noqa: E402
from testrun import Counts  # noqa: E402
from testrun import module_of  # noqa: E402
from testrun import parse_stestr  # noqa: E402
from testrun import parse_unittest  # noqa: E402
from testrun import TEST_ENV  # noqa: E402

#: What the OpenStackClient plugin's wheel must register.
PLUGIN_ENTRY_POINTS = {
    'openstack.cli.extension': {'xloud': 'xloud_osc.plugin'},
    'openstack.xloud.v1': {
        'server_adjust': 'xloud_osc.v1.adjust:AdjustServer',
        'server_adjust_show': 'xloud_osc.v1.adjust:ShowServerAdjust',
    },
}
#: ``openstack <argv>`` and what its output must hold, in a virtualenv of
#: only the plugin and python-openstackclient.
PLUGIN_HELP = (
    (('server', 'adjust', '--help'),
     ('usage: openstack server adjust', '--vcpus', '--memory',
      '--no-persist', '--wait', '--wait-timeout')),
    (('server', 'adjust', 'show', '--help'),
     ('usage: openstack server adjust show', '<server>')),
)


class Runner:

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

    def run(self, cmd, cwd, env=None):
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
        self.total += counts
        self.report.append(f'{name:<12} {counts}  ({seconds:.0f} s)')
        print(f'== {name}: {counts} ({seconds:.0f} s)\n', flush=True)

    def check_queue(self):
        """patchq check: this release's, or every release's for the default."""
        start = time.monotonic()
        pins = ([p for p in patchq.load_pins(self.root)]
                if self.queue.pin.default else [self.queue.pin])
        print(f'== queue: patchq check on '
              f'{", ".join(p.version for p in pins)}', flush=True)
        counts = Counts()
        for pin in pins:
            problems = patchq.Queue(self.root, pin=pin).check()
            print(f'   {pin.version}: '
                  f'{"ok" if not problems else "FAILED"}')
            for p in problems:
                print(f'   {pin.version}: {p}')
            counts += Counts(passed=int(not problems),
                             failed=int(bool(problems)))
        problems = patchq.check_version(self.root)
        print(f'   version xloud {self.queue.pin.release}: '
              f'{"ok" if not problems else "FAILED"}')
        for p in problems:
            print(f'   version: {p}')
        counts += Counts(passed=int(not problems), failed=int(bool(problems)))
        self.stage('queue', counts, time.monotonic() - start)

    def lint_targets(self):
        """New and patched Python files, as paths inside the tree.

        Our tools are linted too, by absolute path, under the same rules.
        """
        new = [n for n in self.queue.overlay_files() if n.endswith('.py')]
        patched = [t for _, t in self.queue.patches() if t.endswith('.py')]
        tools = [str(self.root / n) for n in self.queue.repo_files()
                 if n.startswith('tools/') and n.endswith('.py')]
        if not self.queue.pin.default:
            tools = []  # the same files on every release: linted once
        return sorted(set(new + patched)) + tools

    def flake8(self):
        start = time.monotonic()
        files = self.lint_targets()
        print(f'== flake8 + hacking on {len(files)} new or patched files',
              flush=True)
        counts = Counts()
        if files:
            # upstream's tox.ini [flake8] config and local N-checks apply
            # because flake8 runs from the tree's root.
            rc, out = self.run([self.python, '-m', 'flake8', '--'] + files,
                               cwd=self.tree)
            bad = {line.split(':', 1)[0] for line in out.splitlines()
                   if re.match(r'^\S+\.py:\d+:\d+: ', line)}
            if rc and not bad:
                bad = set(files)  # flake8 itself failed
            counts = Counts(passed=len(files) - len(bad), failed=len(bad))
        # Each plugin is its own distribution, linted from its directory
        # under its own configuration (plain flake8 + hacking), once.
        for directory in patchq.PLUGINS if self.queue.pin.default else ():
            prefix = directory + '/'
            files = [n[len(prefix):] for n in self.queue.repo_files()
                     if n.startswith(prefix) and n.endswith('.py')]
            print(f'== flake8 + hacking on {len(files)} files of '
                  f'{directory}', flush=True)
            rc, out = self.run([self.python, '-m', 'flake8', '--'] + files,
                               cwd=self.root / directory)
            bad = {line.split(':', 1)[0] for line in out.splitlines()
                   if re.match(r'^\S+\.py:\d+:\d+: ', line)}
            if rc and not bad:
                bad = set(files)
            counts += Counts(passed=len(files) - len(bad), failed=len(bad))
        self.stage('flake8', counts, time.monotonic() - start)

    def tool_tests(self):
        start = time.monotonic()
        print('== patch-queue tool tests', flush=True)
        rc, out = self.run([self.python, '-m', 'unittest', 'discover', '-v',
                            '-s', 'tools/tests'], cwd=self.root)
        counts = parse_unittest(out) or Counts(failed=1)
        if rc and not counts.failed:
            counts.failed = 1
        self.stage('tools', counts, time.monotonic() - start)

    def packages(self):
        """The packages "make dist" builds install and say who they are."""
        start = time.monotonic()
        print('== packages: build, install in a clean venv, run', flush=True)
        outdir = self.root / 'build' / 'dist-check'
        venv = self.root / 'build' / 'dist-venv'
        version = self.queue.pin.local_version
        results = []

        def record(name, ok, detail=''):
            results.append(ok)
            print(f'   {"ok  " if ok else "FAIL"} {name} {detail}'.rstrip(),
                  flush=True)

        try:
            wheel, sdist = self.queue.dist(self.tree, outdir)
            self.wheel = wheel
        except patchq.QueueError as e:
            record('build', False, str(e))
            return self.stage('packages', Counts(failed=1),
                              time.monotonic() - start)
        record('build', True, f'{wheel.name} {sdist.name}')
        with zipfile.ZipFile(wheel) as whl:
            eps = whl.read(f'nova-{version}.dist-info/entry_points.txt')
            meta = whl.read(f'nova-{version}.dist-info/METADATA')
        record('wheel metadata has the local version',
               f'\nVersion: {version}\n'.encode() in meta)
        record('wheel registers the minimum extra-spec validators',
               b'\nminimum = nova.api.validation.extra_specs.minimum\n'
               in eps)
        if venv.exists():
            shutil.rmtree(venv)
        rc, _ = self.run([self.python, '-m', 'venv', str(venv)],
                         cwd=self.root)
        rc, _ = self.run(
            [str(venv / 'bin/python'), '-m', 'pip', 'install', '--quiet',
             '--disable-pip-version-check', str(wheel),
             '-c', str(self.root / self.queue.pin.constraints)], cwd=self.root)
        record('wheel installs in a clean venv with our constraints',
               rc == 0)
        clean = dict(os.environ, PYTHONWARNINGS='ignore')
        for command in ('nova-compute', 'nova-manage'):
            proc = subprocess.run([str(venv / 'bin' / command), '--version'],
                                  cwd='/', env=clean, capture_output=True,
                                  text=True)
            said = proc.stdout.strip()
            record(f'{command} --version', said == version,
                   f'printed {said!r}')
        probe = ('from nova.api.validation.extra_specs import validators\n'
                 'validators.validate("minimum_cpu", "2")\n'
                 'try:\n'
                 '    validators.validate("minimum_cpu", "abc")\n'
                 'except Exception as e:\n'
                 '    print(type(e).__name__)\n')
        proc = subprocess.run([str(venv / 'bin/python'), '-c', probe],
                              cwd='/', env=clean, capture_output=True,
                              text=True)
        record('installed validators refuse minimum_cpu=abc',
               proc.stdout.strip() == 'ValidationError',
               proc.stdout.strip() or proc.stderr.strip()[-300:])
        if self.queue.pin.default:
            for directory in patchq.PLUGINS:
                self.plugin_package(directory, outdir, record)
        counts = Counts(passed=sum(results),
                        failed=len(results) - sum(results))
        self.stage('packages', counts, time.monotonic() - start)

    def plugin_package(self, directory, outdir, record):
        """The plugin's wheel and what it adds to ``openstack``.

        Its metadata, then its commands in a clean virtualenv of only
        itself and python-openstackclient.
        """
        version = patchq.load_pins(self.root)[0].local_version
        try:
            wheel, sdist = self.queue.dist_plugin(directory, outdir)
        except patchq.QueueError as e:
            return record(f'build {directory}', False, str(e))
        record(f'build {directory}', True, f'{wheel.name} {sdist.name}')
        info = f'{patchq.PLUGINS[directory]}-{version}.dist-info'
        with zipfile.ZipFile(wheel) as whl:
            eps = configparser.ConfigParser(delimiters=('=',))
            eps.optionxform = str
            eps.read_string(whl.read(f'{info}/entry_points.txt').decode())
            meta = whl.read(f'{info}/METADATA').decode()
        for group, wanted in PLUGIN_ENTRY_POINTS.items():
            found = dict(eps[group]) if eps.has_section(group) else {}
            record(f'{directory} wheel entry points [{group}]',
                   found == wanted, f'{found}')
        record(f'{directory} wheel metadata has the local version',
               f'\nVersion: {version}\n' in meta)
        requires = re.findall(r'^Requires-Dist: (.*)$', meta, re.MULTILINE)
        pinned = [r for r in requires
                  if re.search(r'==|~=|<|!=', r.split(';')[0])]
        record(f'{directory} requires lower bounds only', bool(requires) and
               not pinned, f'(pins {", ".join(pinned)})' if pinned else '')
        venv = self.root / 'build' / f'{directory}-venv'
        if venv.exists():
            shutil.rmtree(venv)
        self.run([self.python, '-m', 'venv', str(venv)], cwd=self.root)
        rc, _ = self.run(
            [str(venv / 'bin/python'), '-m', 'pip', 'install', '--quiet',
             '--disable-pip-version-check', str(wheel),
             'python-openstackclient',
             '-c', str(self.root / self.queue.pin.constraints)], cwd=self.root)
        record(f'{directory} installs beside python-openstackclient in a '
               f'clean venv', rc == 0)
        rc, out = self.run([str(venv / 'bin/python'), '-m', 'pip', 'check'],
                           cwd=self.root)
        record(f'{directory}: pip check', rc == 0)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(PYTHONWARNINGS='ignore', HOME=str(venv), COLUMNS='80')
        for argv, wanted in PLUGIN_HELP:
            proc = subprocess.run([str(venv / 'bin/openstack')] + list(argv),
                                  cwd='/', env=env, capture_output=True,
                                  text=True)
            missing = [w for w in wanted if w not in proc.stdout]
            record(f'openstack {" ".join(argv)}',
                   proc.returncode == 0 and not missing,
                   f'(rc {proc.returncode}, missing {missing}: '
                   f'{proc.stderr.strip()[-300:]})'
                   if proc.returncode or missing else '')

    def plugin_tests(self):
        """Each plugin's unit tests, with stestr from its directory."""
        start = time.monotonic()
        counts = Counts()
        for directory in patchq.PLUGINS:
            print(f'== {directory}: unit tests', flush=True)
            env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
            rc, out = self.run(
                [self.python, '-m', 'stestr', 'run',
                 f'--concurrency={self.concurrency}'],
                cwd=self.root / directory, env=env)
            found = parse_stestr(out) or Counts(failed=1)
            if rc and not found.failed:
                found.failed += 1
            counts += found
        self.stage('osc', counts, time.monotonic() - start)

    def docs(self):
        """doc/, api-ref/ and releasenotes/ built with -W, then checked."""
        start = time.monotonic()
        print('== docs: sphinx-build -W of the tree\'s three books',
              flush=True)
        built = docs.Docs(self.tree, self.root / 'build' / 'docs',
                          python=self.python)
        try:
            results = built.everything()
        except (subprocess.CalledProcessError, OSError) as e:
            print(f'   the doc build could not start: {e}')
            results = [docs.Result('doc build', False, str(e))]
        self.stage('docs', Counts(
            passed=sum(r.ok and not r.skipped for r in results),
            failed=sum(not r.ok for r in results),
            skipped=sum(r.skipped for r in results)),
            time.monotonic() - start)

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

    def in_place(self):
        """xloud-nova on a clean pip install of upstream nova==<release>.

        apply (killed half-way, then again), status, nova/ file for file
        our wheel's, our functional tests (inplace.SMOKE, or all of them
        with XLOUD_INPLACE_FUNCTIONAL=all) run from the patched install
        with this venv's dependencies, revert (killed half-way, then
        again) and a byte-for-byte comparison with the fresh install.
        On the default release, also the command's own wheel.
        """
        start = time.monotonic()
        version = self.queue.pin.version
        print(f'== inplace: xloud-nova on pip install nova=={version}',
              flush=True)
        work = self.root / 'build' / 'inplace'
        try:
            script = inplace.build(self.root, work / 'xloud-nova',
                                   versions=[version])
        except patchq.QueueError as e:
            print(f'   FAIL building xloud-nova: {e}')
            return self.stage('inplace', Counts(failed=1),
                              time.monotonic() - start)
        check = inplace.Check(
            self.root, script, work, concurrency=self.concurrency,
            every_test=os.environ.get('XLOUD_INPLACE_FUNCTIONAL') == 'all')
        try:
            check.release(version, functional=self.python,
                          wheel=self.wheel or self.tree_wheel(work))
            if self.queue.pin.default:
                check.package([p.version for p in
                               patchq.load_pins(self.root)])
        except (OSError, subprocess.CalledProcessError) as e:
            check.record(f'{version}: the check could not go on', False,
                         str(e))
        passed = sum(check.results)
        self.stage('inplace', Counts(passed=passed,
                                     failed=len(check.results) - passed),
                   time.monotonic() - start)

    def tree_wheel(self, work):
        """Our wheel of this tree, built now (the packages stage did not).

        A wheel left by an earlier run may predate the tree; comparing
        with it would fail for the wrong reason or pass for one.
        """
        try:
            return self.queue.dist(self.tree, work / 'dist')[0]
        except patchq.QueueError as e:
            print(f'   (no wheel of this tree to compare with: {e})',
                  flush=True)
            return None

    def hypervisor(self):
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
        work = self.root / 'build' / 'hypervisor'
        work.mkdir(parents=True, exist_ok=True)
        try:
            realhv.can_run()
            rc, _ = self.run([self.python, '-c', 'import libvirt'],
                             cwd=self.root)
            if rc:
                raise realhv.Unavailable(
                    'libvirt-python is not installed (make install-tree '
                    'installs it when libvirt-dev is there)')
        except realhv.Unavailable as e:
            required = os.environ.get('XLOUD_REQUIRE_HYPERVISOR')
            print(f'!!!!! REAL-HYPERVISOR SUITE NOT RUN: {e} !!!!!',
                  flush=True)
            return self.stage('hypervisor', Counts(
                failed=int(bool(required)), skipped=int(not required)),
                time.monotonic() - start)
        timings = work / 'timings.jsonl'
        timings.unlink(missing_ok=True)
        counts = None
        try:
            with realhv.session(work, self.root / 'build' / 'guest') as image:
                env = dict(os.environ, **TEST_ENV,
                           XLOUD_HV_IMAGE=str(image),
                           XLOUD_HV_TIMINGS=str(timings))
                rc, out = self.run(
                    [self.python, '-m', 'stestr',
                     '--test-path=./nova/tests/hypervisor', 'run',
                     '--concurrency=1'], cwd=self.tree, env=env)
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
        self.stage('hypervisor', counts or Counts(failed=1),
                   time.monotonic() - start)

    def e2e(self):
        """tools/e2e on a one-node cloud of real services (tools/aio.py).

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
            return self.stage('e2e', Counts(
                failed=int(bool(required)), skipped=int(not required)),
                time.monotonic() - start)
        counts = None
        try:
            with aio.session(self.tree, self.root) as cloud:
                up = time.monotonic() - start
                env = dict(os.environ, XLOUD_AIO_WORK=str(cloud.work))
                tests = time.monotonic()
                rc, out = self.run(
                    [sys.executable, '-m', 'unittest', 'discover', '-v',
                     '-s', 'tools/e2e', '-t', 'tools/e2e'],
                    cwd=self.root, env=env)
                counts = parse_unittest(out)
                if counts is not None and rc and not counts.failed:
                    counts.failed += 1
                print(f'   timings: cloud up {up:.0f} s, tests '
                      f'{time.monotonic() - tests:.0f} s; bring-up: ' +
                      ', '.join(f'{label} {seconds:.0f} s'
                                for label, seconds in cloud.timings))
        except (aio.Failed, realhv.Unavailable, patchq.QueueError) as e:
            print(f'   the cloud failed to come up: {e}')
        self.stage('e2e', counts or Counts(failed=1),
                   time.monotonic() - start)

    def our_tests(self, kind):
        prefix = f'nova/tests/{kind}/'
        return [module_of(n) for n in self.queue.overlay_files()
                if n.startswith(prefix) and
                re.search(r'/test_[^/]*\.py$', n)]

    def upstream_modules(self, kind):
        """The upstream ``kind`` test modules upstream-tests.txt maps."""
        prefix = f'nova.tests.{kind}.'
        upstream = []
        for modules in self.queue.tests_map().values():
            upstream += [m for m in modules
                         if m not in upstream and m.startswith(prefix)]
        return upstream

    def unit_modules(self):
        return self.our_tests('unit') + self.upstream_modules('unit')


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


def release_stages(queue):
    """The stages for ``queue``'s release, and why any are left out."""
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


def summary_path(root, version):
    """Where a run leaves its summary, for "make check-all" to repeat."""
    return root / 'build' / f'check-summary-{version}.txt'


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
    args = parser.parse_args(argv)
    root = patchq.ROOT
    runner = Runner(root, root / args.tree, args.python, args.concurrency)
    summary = summary_path(root, runner.queue.pin.version)
    summary.unlink(missing_ok=True)
    start = time.monotonic()
    stages = {
        'queue': runner.check_queue,
        'flake8': runner.flake8,
        'tools': runner.tool_tests,
        'packages': runner.packages,
        'osc': runner.plugin_tests,
        'docs': runner.docs,
        'unit': lambda: runner.stestr('unit', './nova/tests/unit',
                                      runner.unit_modules()),
        'functional': lambda: runner.stestr(
            'functional', './nova/tests/functional',
            runner.our_tests('functional')),
        'upstream-functional': lambda: runner.upstream_functional(
            every=args.every_upstream_functional),
        'inplace': runner.in_place,
        'hypervisor': runner.hypervisor,
        'e2e': runner.e2e,
    }
    wanted, why = release_stages(runner.queue)
    if args.every_upstream_functional and 'upstream-functional' not in wanted:
        wanted += ('upstream-functional',)  # asked for, on any release
    print(f'== nova {runner.queue.pin.local_version}, tree {runner.tree}',
          flush=True)
    if why:
        print(f'   {why}', flush=True)
    failures = FailureLines(sys.stdout)
    sys.stdout = failures
    try:
        for name in wanted:
            if not args.only or name in args.only:
                stages[name]()
    finally:
        sys.stdout = failures.stream
    text = [f'== summary: nova {runner.queue.pin.local_version}']
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
