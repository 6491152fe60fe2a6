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

from osc_lib.cli import format_columns

from xloud_osc.tests.unit import base
from xloud_osc.v1 import adjust
from xloud_osc.v1 import client as xclient

ID = base.SERVER_ID
ADJUST = '/os-xloud-adjust/' + ID


class TestShow(base.TestCase):

    def setUp(self):
        super().setUp()
        self.mock.get(base.COMPUTE + '/servers/' + ID, json=base.server())

    def run_command(self, argv):
        self.app = base.FakeApp(self.client)
        cmd = adjust.ShowServerAdjust(self.app, None)
        parsed = cmd.get_parser('openstack server adjust show').parse_args(
            argv)
        return cmd.take_action(parsed)

    def test_envelope(self):
        self.mock.get(base.COMPUTE + ADJUST,
                      json={'xloud_adjust': base.ENVELOPE})
        columns, values = self.run_command([ID])
        self.assertEqual(['server_id', 'vcpus', 'memory_mb'], columns)
        self.assertEqual(ID, values[0])
        vcpus, memory = values[1], values[2]
        self.assertIsInstance(vcpus, format_columns.DictColumn)
        # JSON and YAML get the dict; a table gets key='value' pairs.
        self.assertEqual(base.ENVELOPE['vcpus'], vcpus.machine_readable())
        self.assertEqual(base.ENVELOPE['memory_mb'],
                         memory.machine_readable())
        self.assertEqual("adjustable='True', allocated='3', current='3', "
                         "maximum='4', minimum='1', next_boot='3'",
                         vcpus.human_readable())

    def test_unknown_keys_are_shown_too(self):
        # A later release may add keys; they are shown after the known
        # ones, nested values through the same formatters.
        envelope = dict(base.ENVELOPE, adjusting={'vcpus': 4},
                        host_can_adjust=True, notes=['a', 'b'])
        self.mock.get(base.COMPUTE + ADJUST, json={'xloud_adjust': envelope})
        columns, values = self.run_command([ID])
        self.assertEqual(['server_id', 'vcpus', 'memory_mb', 'adjusting',
                          'host_can_adjust', 'notes'], columns)
        shown = dict(zip(columns, values))
        self.assertEqual({'vcpus': 4}, shown['adjusting'].machine_readable())
        self.assertIs(True, shown['host_can_adjust'])
        self.assertEqual("a, b", shown['notes'].human_readable())

    def test_missing_resource_is_not_invented(self):
        envelope = {'server_id': ID, 'vcpus': base.ENVELOPE['vcpus']}
        self.mock.get(base.COMPUTE + ADJUST, json={'xloud_adjust': envelope})
        columns, _ = self.run_command([ID])
        self.assertEqual(['server_id', 'vcpus'], columns)

    def test_api_errors(self):
        for status in (403, 404):
            self.mock.get(base.COMPUTE + ADJUST, **self.fault(status))
            e = self.assertRaises(xclient.APIError, self.run_command, [ID])
            self.assertEqual(status, e.status)
            self.assertEqual(
                f'Cannot show the envelope of server {ID}: '
                f'{base.FAULTS[status][1]} (HTTP {status})', str(e))
