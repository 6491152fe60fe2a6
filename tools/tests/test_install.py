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

"""Our version reaches our packages only ("patchq install").

A real install from PyPI into a new virtualenv, with a pip cache that
starts empty, as on a fresh machine: the probe package is ours (pbr,
versioned by PBR_VERSION) and depends on testresources 2.0.2, a pbr
package published only as an sdist, so pip must build it.
"""

import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import unittest
from unittest import mock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import patchq  # noqa: E402

VERSION = '1.0.0+xloud.7'
DEPENDENCY = ('testresources', '2.0.2')


class TestInstallFromEmptyCache(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='xloud-install-')
        cls.work = pathlib.Path(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        # A virtualenv and a pip cache of this test's own, both new.
        self.dir = pathlib.Path(tempfile.mkdtemp(dir=self.work))
        subprocess.run([sys.executable, '-m', 'venv', str(self.dir / 'v')],
                       check=True)
        self.python = str(self.dir / 'v' / 'bin' / 'python')
        self.env = {'PIP_CACHE_DIR': str(self.dir / 'cache'),
                    # the sdist even if a wheel is published one day
                    'PIP_NO_BINARY': DEPENDENCY[0]}
        self.probe = self.dir / 'probe'
        files = {
            'setup.cfg': '[metadata]\nname = xloud-probe\n\n'
                         '[files]\npackages = xloud_probe\n',
            'setup.py': 'import setuptools\n'
                        'setuptools.setup(setup_requires=["pbr"], pbr=True)\n',
            'pyproject.toml': '[build-system]\nrequires = ["pbr>=6.1.1"]\n'
                              'build-backend = "pbr.build"\n',
            'requirements.txt': f'{DEPENDENCY[0]}\n',
            'xloud_probe/__init__.py': '',
        }
        for name, text in files.items():
            (self.probe / name).parent.mkdir(parents=True, exist_ok=True)
            (self.probe / name).write_text(text)
        self.constraints = self.dir / 'constraints.txt'
        self.constraints.write_text('%s==%s\n' % DEPENDENCY)

    def versions(self):
        code = textwrap.dedent('''\
            import importlib.metadata as m
            for name in ("xloud-probe", "testresources"):
                try:
                    print(name, m.version(name))
                except m.PackageNotFoundError:
                    print(name, None)
            ''')
        out = subprocess.run([self.python, '-c', code], check=True,
                             capture_output=True, text=True).stdout
        return dict(line.split() for line in out.splitlines())

    def test_dependency_built_from_sdist_keeps_its_version(self):
        env = dict(os.environ, PBR_VERSION='9.9.9', **self.env)
        with mock.patch.dict(os.environ, env, clear=True):
            patchq.install([self.probe], VERSION,
                           ['-q', '-c', str(self.constraints)],
                           python=self.python)
        self.assertEqual({'xloud-probe': VERSION,
                          DEPENDENCY[0]: DEPENDENCY[1]}, self.versions())

    def test_one_command_with_our_version_fails(self):
        # The control: what "make check" did before, one pip command with
        # PBR_VERSION set. It must fail here, or the test above proves
        # nothing (a cached or published wheel would hide the build).
        proc = subprocess.run(
            [self.python, '-m', 'pip', 'install', '-c',
             str(self.constraints), '-e', str(self.probe)],
            env=dict(os.environ, PBR_VERSION=VERSION, **self.env),
            capture_output=True, text=True)
        self.assertNotEqual(0, proc.returncode, proc.stdout)
        self.assertIn('inconsistent version', proc.stdout + proc.stderr)
        self.assertEqual('None', self.versions()[DEPENDENCY[0]])


if __name__ == '__main__':
    unittest.main()
