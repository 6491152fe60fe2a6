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

"""The packages stage of "make check": what "make dist" builds works.

Our wheel and sdist are built from the tree, installed into a clean
virtualenv and run; on the default release the plugin's too, beside
python-openstackclient.
"""

import configparser
import os
import re
import shutil
import subprocess
import time
import zipfile

import patchq
from testrun import Counts


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


def packages(runner):
    """The packages "make dist" builds install and say who they are."""
    Packages(runner)()


class Packages:
    """The packages stage of one run, each check recorded as it is made.

    The wheel it builds is left as ``runner.wheel``, for the inplace
    stage to compare with.
    """

    def __init__(self, runner):
        self.runner = runner
        self.results = []

    def record(self, name, ok, detail=''):
        """Keep one check's result, and print it."""
        self.results.append(ok)
        print(f'   {"ok  " if ok else "FAIL"} {name} {detail}'.rstrip(),
              flush=True)

    def __call__(self):
        """Build ours, check the wheel, install it in a clean venv, run it."""
        runner = self.runner
        start = time.monotonic()
        print('== packages: build, install in a clean venv, run', flush=True)
        outdir = runner.root / 'build' / 'dist-check'
        venv = runner.root / 'build' / 'dist-venv'
        version = runner.queue.pin.local_version
        record = self.record
        try:
            wheel, sdist = runner.queue.dist(runner.tree, outdir)
            runner.wheel = wheel
        except patchq.QueueError as e:
            record('build', False, str(e))
            return runner.stage('packages', Counts(failed=1),
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
        rc, _ = runner.run([runner.python, '-m', 'venv', str(venv)],
                           cwd=runner.root)
        rc, _ = runner.run(
            [str(venv / 'bin/python'), '-m', 'pip', 'install', '--quiet',
             '--disable-pip-version-check', str(wheel),
             '-c', str(runner.root / runner.queue.pin.constraints)],
            cwd=runner.root)
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
        if runner.queue.pin.default:
            for directory in patchq.PLUGINS:
                self.plugin(directory, outdir)
        counts = Counts(passed=sum(self.results),
                        failed=len(self.results) - sum(self.results))
        runner.stage('packages', counts, time.monotonic() - start)

    def plugin(self, directory, outdir):
        """The plugin's wheel and what it adds to ``openstack``.

        Its metadata, then its commands in a clean virtualenv of only
        itself and python-openstackclient.
        """
        runner = self.runner
        record = self.record
        version = patchq.load_pins(runner.root)[0].local_version
        try:
            wheel, sdist = runner.queue.dist_plugin(directory, outdir)
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
        venv = runner.root / 'build' / f'{directory}-venv'
        if venv.exists():
            shutil.rmtree(venv)
        runner.run([runner.python, '-m', 'venv', str(venv)], cwd=runner.root)
        rc, _ = runner.run(
            [str(venv / 'bin/python'), '-m', 'pip', 'install', '--quiet',
             '--disable-pip-version-check', str(wheel),
             'python-openstackclient',
             '-c', str(runner.root / runner.queue.pin.constraints)],
            cwd=runner.root)
        record(f'{directory} installs beside python-openstackclient in a '
               f'clean venv', rc == 0)
        rc, out = runner.run(
            [str(venv / 'bin/python'), '-m', 'pip', 'check'], cwd=runner.root)
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
