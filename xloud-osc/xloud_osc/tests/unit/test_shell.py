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

"""The plugin inside the real ``openstack`` command.

OSC's shell loads the plugin through its entry points, builds its client
manager and runs the commands against the compute API on requests-mock:
this proves the entry points, make_client and what a user sees.
"""

import io
import json
import os

import fixtures

from xloud_osc.tests.unit import base

try:
    from openstackclient import shell
except ImportError:  # pragma: no cover
    shell = None

ID = base.SERVER_ID
ADJUST = '/os-xloud-adjust/' + ID


class TestShell(base.TestCase):

    def setUp(self):
        super().setUp()
        if shell is None:
            self.skipTest('python-openstackclient is not installed (it is '
                          'in test-requirements.txt)')
        # No clouds.yaml and no OS_* variables of whoever runs the tests.
        for name in [n for n in os.environ if n.startswith('OS_')]:
            self.useFixture(fixtures.EnvironmentVariable(name))
        self.useFixture(fixtures.EnvironmentVariable(
            'HOME', self.useFixture(fixtures.TempDir()).path))
        self.mock.get(base.COMPUTE + '/servers/' + ID, json=base.server())

    def openstack(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        rc = shell.main(['--os-endpoint', base.COMPUTE, '--os-token', 'tok']
                        + list(argv))
        return rc, out.getvalue(), err.getvalue()

    def test_adjust(self):
        post = self.mock.post(base.COMPUTE + ADJUST, status_code=202)
        rc, out, err = self.openstack('server', 'adjust', ID, '--vcpus', '2',
                                      '--memory', '1G')
        self.assertEqual((0, '', ''), (rc, out, err))
        self.assertEqual({'current_vcpus': 2, 'current_memory_mb': 1024,
                          'persist': True}, post.last_request.json())
        self.assertEqual('tok', post.last_request.headers['X-Auth-Token'])

    def test_error_is_one_line(self):
        self.mock.post(base.COMPUTE + ADJUST, **self.fault(409))
        rc, out, err = self.openstack('server', 'adjust', ID, '--vcpus', '2')
        self.assertEqual(1, rc)
        self.assertEqual(f'Cannot adjust server {ID}: Instance {ID} is '
                         f'locked (HTTP 409)\n', err)
        self.assertNotIn('Traceback', out + err)

    def test_show_json(self):
        self.mock.get(base.COMPUTE + ADJUST,
                      json={'xloud_adjust': base.ENVELOPE})
        rc, out, err = self.openstack('server', 'adjust', 'show', ID,
                                      '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual(base.ENVELOPE, json.loads(out))

    def test_show_value(self):
        self.mock.get(base.COMPUTE + ADJUST,
                      json={'xloud_adjust': base.ENVELOPE})
        rc, out, err = self.openstack('server', 'adjust', 'show', ID,
                                      '-f', 'value', '-c', 'server_id')
        self.assertEqual((0, ID + '\n'), (rc, out))

    def test_help(self):
        rc, out, _ = self.openstack('help', 'server', 'adjust')
        self.assertEqual(0, rc)
        for option in ('--vcpus', '--memory', '--no-persist', '--wait'):
            self.assertIn(option, out)
        rc, out, _ = self.openstack('help', 'server', 'adjust', 'show')
        self.assertEqual(0, rc)
        self.assertIn(' server adjust show [-h] [-f {json,', out)
        self.assertIn('<server>', out)
