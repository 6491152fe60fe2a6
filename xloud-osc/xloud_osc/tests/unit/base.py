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

"""A compute API on requests-mock, reached through a real openstacksdk
connection, the way OSC's client manager reaches Nova."""

import io
import uuid

import fixtures
import openstack.connection
import requests_mock
import testtools

from xloud_osc.v1 import client as xclient

COMPUTE = 'https://compute.example.com/v2.1'
SERVER_ID = '0e44cc9c-e052-415d-afbf-469b0d384170'
REQUEST_ID = 'req-' + str(uuid.UUID(int=7))

VERSION = {'version': {'id': 'v2.1', 'status': 'CURRENT', 'version': '2.96',
                       'min_version': '2.1',
                       'links': [{'rel': 'self', 'href': COMPUTE + '/'}]}}

#: GET /os-xloud-adjust/{id}, as doc/api_samples/os-xloud-adjust has it.
ENVELOPE = {
    'server_id': SERVER_ID,
    'vcpus': {'minimum': 1, 'maximum': 4, 'current': 3, 'next_boot': 3,
              'allocated': 3, 'adjustable': True},
    'memory_mb': {'minimum': 512, 'maximum': 2048, 'current': 1536,
                  'next_boot': 1536, 'allocated': 1536, 'adjustable': True},
}

#: Nova's fault bodies, one per error the adjust API answers.
FAULTS = {
    400: ('badRequest', 'Invalid current_vcpus 8: the flavor allows 1 to 4.'),
    403: ('forbidden', "Policy doesn't allow os_compute_api:xloud:adjust to "
                       "be performed."),
    404: ('itemNotFound', f'Instance {SERVER_ID} could not be found.'),
    409: ('conflictingRequest', f'Instance {SERVER_ID} is locked'),
}


def server(task_state=None, vm_state='active', name='web1', fault=None):
    body = {'id': SERVER_ID, 'name': name, 'status': 'ACTIVE',
            'OS-EXT-STS:task_state': task_state,
            'OS-EXT-STS:vm_state': vm_state}
    if fault:
        body['fault'] = fault
    return {'server': body}


def action(*events, request_id=REQUEST_ID, message=None):
    return {'instanceAction': {
        'action': 'xloud-adjust', 'request_id': request_id,
        'instance_uuid': SERVER_ID, 'message': message,
        'start_time': '2026-12-01T10:00:00.000000',
        'events': list(events)}}


def event(result, details=None, traceback=None):
    finished = result is not None
    return {'event': 'compute_xloud_adjust', 'result': result,
            'details': details, 'traceback': traceback,
            'start_time': '2026-12-01T10:00:00.000000',
            'finish_time': '2026-12-01T10:00:01.000000' if finished else None}


class FakeStdout(io.StringIO):

    def __init__(self, tty=False):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


class FakeApp:
    """What a command reads from cliff's app: the client manager, stdout."""

    def __init__(self, client, tty=False):
        self.client_manager = type('ClientManager', (), {})()
        self.client_manager.xloud = client
        self.stdout = FakeStdout(tty)
        self.stderr = io.StringIO()


class TestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.mock.get(COMPUTE, json=VERSION)
        self.mock.get(COMPUTE + '/', json=VERSION)
        self.conn = openstack.connection.Connection(
            auth_type='admin_token',
            auth={'token': 'admin-token', 'endpoint': COMPUTE},
            compute_api_version='2')
        self.client = xclient.Client(self.conn.compute)
        # The commands wait between polls; the tests need not.
        self.sleeps = self.useFixture(
            fixtures.MockPatch('time.sleep')).mock

    def requests(self, method, path):
        return [r for r in self.mock.request_history
                if r.method == method and r.path == '/v2.1' + path]

    def fault(self, status):
        name, message = FAULTS[status]
        return {'status_code': status,
                'json': {name: {'code': status, 'message': message}}}
