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

import io

import fixtures
from osc_lib import exceptions
from requests import exceptions as requests_exceptions

from xloud_osc.tests.unit import base
from xloud_osc.v1 import adjust
from xloud_osc.v1 import client as xclient

ID = base.SERVER_ID
ADJUST = '/os-xloud-adjust/' + ID
SERVER = '/servers/' + ID
ACTION = f'/servers/{ID}/os-instance-actions/{base.REQUEST_ID}'


class AdjustTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.mock.get(base.COMPUTE + SERVER, json=base.server())
        self.post = self.mock.post(
            base.COMPUTE + ADJUST, status_code=202,
            headers={'x-openstack-request-id': base.REQUEST_ID})

    def run_command(self, argv, tty=False):
        self.app = base.FakeApp(self.client, tty=tty)
        cmd = adjust.AdjustServer(self.app, None)
        parsed = cmd.get_parser('openstack server adjust').parse_args(argv)
        return cmd.take_action(parsed)


class TestAdjust(AdjustTestCase):

    def test_vcpus_and_memory(self):
        self.assertIsNone(self.run_command(
            [ID, '--vcpus', '3', '--memory', '1.5G']))
        self.assertEqual(1, self.post.call_count)
        self.assertEqual({'current_vcpus': 3, 'current_memory_mb': 1536,
                          'persist': True}, self.post.last_request.json())
        # Without --wait nothing is printed and nothing is polled.
        self.assertEqual('', self.app.stdout.getvalue())
        self.assertEqual([], self.requests('GET', ADJUST))

    def test_memory_only_no_persist(self):
        self.run_command([ID, '--memory', '2048', '--no-persist'])
        self.assertEqual({'current_memory_mb': 2048, 'persist': False},
                         self.post.last_request.json())

    def test_vcpus_only(self):
        self.run_command([ID, '--vcpus', '2'])
        self.assertEqual({'current_vcpus': 2, 'persist': True},
                         self.post.last_request.json())

    def test_by_name(self):
        self.mock.get(base.COMPUTE + '/servers/web1', status_code=404,
                      json={'itemNotFound': {'code': 404,
                                             'message': 'not found'}})
        self.mock.get(base.COMPUTE + '/servers/detail',
                      json={'servers': [base.server()['server']]})
        self.run_command(['web1', '--vcpus', '2'])
        self.assertEqual(1, self.post.call_count)
        self.assertEqual({'current_vcpus': 2, 'persist': True},
                         self.post.last_request.json())

    def test_unknown_server(self):
        self.mock.get(base.COMPUTE + '/servers/nope', status_code=404,
                      json={'itemNotFound': {'code': 404,
                                             'message': 'not found'}})
        self.mock.get(base.COMPUTE + '/servers/detail', json={'servers': []})
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              ['nope', '--vcpus', '2'])
        self.assertIn('nope', str(e))
        self.assertNotIn('\n', str(e))
        self.assertEqual(0, self.post.call_count)

    def test_nothing_to_adjust(self):
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID])
        self.assertIn('--vcpus, --memory or both', str(e))
        self.assertEqual(0, self.post.call_count)

    def test_bad_sizes_are_usage_errors(self):
        for argv, said in (
                ([ID, '--memory', '1.3G'], "'1.3G' is 1331.2 MiB, not a "
                                           "whole number of MiB"),
                ([ID, '--vcpus', '0'], "'0': at least 1 vCPU"),
                ([ID, '--memory', 'lots'], "'lots' is not a size")):
            stderr = io.StringIO()
            self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
            e = self.assertRaises(SystemExit, self.run_command, argv)
            self.assertEqual(2, e.code)
            self.assertIn(said, stderr.getvalue())
        self.assertEqual(0, self.post.call_count)

    def test_api_errors(self):
        for status in (400, 403, 404, 409):
            self.mock.post(base.COMPUTE + ADJUST, **self.fault(status))
            e = self.assertRaises(xclient.APIError, self.run_command,
                                  [ID, '--vcpus', '3', '--wait'])
            self.assertIsInstance(e, exceptions.CommandError)
            self.assertEqual(status, e.status)
            self.assertEqual(f'Cannot adjust server {ID}: '
                             f'{base.FAULTS[status][1]} (HTTP {status})',
                             str(e))
            # --wait does not wait for a refused adjust.
            self.assertEqual([], self.requests('GET', ACTION))

    def test_api_error_without_a_fault_body(self):
        self.mock.post(base.COMPUTE + ADJUST, status_code=409,
                       reason='Conflict', text='<html>busy</html>')
        e = self.assertRaises(xclient.APIError, self.run_command,
                              [ID, '--vcpus', '3'])
        self.assertEqual(f'Cannot adjust server {ID}: 409 Conflict '
                         f'(HTTP 409)', str(e))


class WaitTestCase(AdjustTestCase):

    def servers(self, *bodies):
        self.mock.get(base.COMPUTE + SERVER,
                      [{'json': b} for b in bodies])

    def actions(self, *bodies):
        self.mock.get(base.COMPUTE + ACTION, [{'json': b} for b in bodies])

    def envelope(self, vcpus=3, memory_mb=1536):
        env = {'server_id': ID,
               'vcpus': dict(base.ENVELOPE['vcpus'], current=vcpus),
               'memory_mb': dict(base.ENVELOPE['memory_mb'],
                                 current=memory_mb)}
        self.mock.get(base.COMPUTE + ADJUST, json={'xloud_adjust': env})


class TestAdjustWait(WaitTestCase):
    """--wait, over the server's task_state and the adjust's action."""

    def test_success(self):
        # find_server, then two polls while the compute works, then done.
        self.servers(base.server(), base.server('xloud_adjusting'),
                     base.server('xloud_adjusting'), base.server())
        self.actions(base.action(base.event('Success')))
        self.envelope()
        self.run_command([ID, '--vcpus', '3', '--memory', '1536', '--wait'])
        out = self.app.stdout.getvalue()
        self.assertEqual('Complete: server web1 runs with 3 vCPUs and '
                         '1536 MiB\n', out)
        self.assertEqual(2, self.sleeps.call_count)
        self.assertEqual(1, len(self.requests('GET', ACTION)))

    def test_success_shows_progress_on_a_tty(self):
        self.servers(base.server(), base.server('xloud_adjusting'),
                     base.server())
        self.actions(base.action(base.event('Success')))
        self.envelope()
        self.run_command([ID, '--vcpus', '3', '--wait'], tty=True)
        out = self.app.stdout.getvalue()
        self.assertIn('\rAdjusting server web1: xloud_adjusting (', out)
        self.assertTrue(out.endswith(
            '\nComplete: server web1 runs with 3 vCPUs and 1536 MiB\n'), out)

    def test_waits_for_the_event_to_finish(self):
        # task_state is cleared just before the action's event finishes.
        self.servers(base.server(), base.server(), base.server())
        self.actions(base.action(base.event(None)),
                     base.action(base.event('Success')))
        self.envelope()
        self.run_command([ID, '--vcpus', '3', '--wait'])
        self.assertEqual(2, len(self.requests('GET', ACTION)))
        self.assertEqual(1, self.sleeps.call_count)

    def test_failure_says_the_fault(self):
        self.servers(base.server(), base.server('xloud_adjusting'),
                     base.server())
        self.actions(base.action(
            base.event('Error', details='Adjusting the server failed: '
                       'vCPU unplug timed out. It now runs with 3 vCPUs '
                       'and 1536 MiB.'), message='Error'))
        self.envelope()
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '2', '--wait'])
        self.assertEqual('Adjusting server web1 failed: Adjusting the '
                         'server failed: vCPU unplug timed out. It now runs '
                         'with 3 vCPUs and 1536 MiB.', str(e))
        self.assertNotIn('Complete', self.app.stdout.getvalue())

    def test_failure_from_the_traceback(self):
        self.servers(base.server(), base.server())
        self.actions(base.action(base.event(
            'Error', traceback='Traceback (most recent call last):\n'
            '  File "x.py", line 1\nlibvirtError: no more vCPUs\n')))
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '4', '--wait'])
        self.assertEqual('Adjusting server web1 failed: libvirtError: no '
                         'more vCPUs', str(e))

    def test_failure_with_no_detail(self):
        self.servers(base.server(), base.server())
        self.actions(base.action(base.event('Error'), message='Error'))
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '4', '--wait'])
        self.assertEqual('Adjusting server web1 failed: Error', str(e))

    def test_server_in_error(self):
        self.servers(base.server(), base.server(
            None, vm_state='error',
            fault={'code': 500, 'message': 'libvirt died'}))
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '4', '--wait'])
        self.assertEqual('Adjusting server web1 failed: the server is in '
                         'ERROR: libvirt died', str(e))

    def test_sizes_not_reached(self):
        # The action succeeded, but the server does not run with what was
        # asked (say, a reboot without persist came in between).
        self.servers(base.server(), base.server())
        self.actions(base.action(base.event('Success')))
        self.envelope(vcpus=2)
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--wait'])
        self.assertEqual('Adjusting server web1 did not complete: it runs '
                         'with 2 vCPUs and 1536 MiB', str(e))

    def test_without_a_request_id(self):
        # Behind a proxy that drops the header: the newest xloud-adjust
        # action of the server is the one.
        self.mock.post(base.COMPUTE + ADJUST, status_code=202)
        self.servers(base.server(), base.server())
        self.mock.get(
            base.COMPUTE + f'/servers/{ID}/os-instance-actions',
            json={'instanceActions': [
                dict(base.action()['instanceAction'], action='reboot',
                     request_id='req-reboot'),
                base.action()['instanceAction']]})
        self.actions(base.action(base.event('Success')))
        self.envelope()
        self.run_command([ID, '--vcpus', '3', '--wait'])
        self.assertIn('Complete', self.app.stdout.getvalue())


class TestAdjustLiveMigrate(WaitTestCase):
    """--live-migrate: the server may move before it grows."""

    GROW = 'req-grow'

    def phases(self, *phases, vcpus=3):
        self.mock.get(base.COMPUTE + ADJUST, [
            {'json': {'xloud_adjust': dict(
                base.ENVELOPE, phase=p,
                vcpus=dict(base.ENVELOPE['vcpus'], current=vcpus))}}
            for p in phases])

    def moved(self, *move_events, grow_events=()):
        move = base.action(*move_events)
        move['instanceAction']['action'] = 'live-migration'
        self.actions(move)
        grow = base.action(*grow_events, request_id=self.GROW)
        self.mock.get(
            base.COMPUTE + f'/servers/{ID}/os-instance-actions',
            json={'instanceActions': [grow['instanceAction'],
                                      move['instanceAction']]})
        self.mock.get(
            base.COMPUTE + f'/servers/{ID}/os-instance-actions/{self.GROW}',
            json=grow)

    def test_sent_only_when_asked(self):
        self.run_command([ID, '--vcpus', '3', '--live-migrate'])
        self.assertEqual({'current_vcpus': 3, 'persist': True,
                          'live_migrate': True},
                         self.post.last_request.json())
        self.run_command([ID, '--vcpus', '3'])
        self.assertNotIn('live_migrate', self.post.last_request.json())

    def test_waits_for_the_move_then_the_grow(self):
        # migrating, a moment with no task while the move ends, the grow
        self.servers(base.server(), base.server('migrating'),
                     base.server(), base.server('xloud_adjusting'),
                     base.server())
        self.phases('moving', None, None)
        self.moved(base.event('Success'),
                   grow_events=[base.event('Success')])
        self.run_command([ID, '--vcpus', '3', '--live-migrate', '--wait'])
        self.assertEqual('Complete: server web1 runs with 3 vCPUs and '
                         '1536 MiB\n', self.app.stdout.getvalue())
        self.assertEqual(3, self.sleeps.call_count)

    def test_a_failed_move_says_so(self):
        self.servers(base.server(), base.server('migrating'),
                     base.server())
        self.phases(None)
        self.moved(base.event('Error', details='No valid host was found.'))
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--live-migrate',
                               '--wait'])
        self.assertEqual('Moving server web1 failed: No valid host was '
                         'found.', str(e))

    def test_a_failed_grow_after_the_move_says_so(self):
        self.servers(base.server(), base.server())
        self.phases(None)
        self.moved(base.event('Success'), grow_events=[
            base.event('Error', details='vCPU hotplug failed')])
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--live-migrate',
                               '--wait'])
        self.assertEqual('Adjusting server web1 failed: vCPU hotplug '
                         'failed', str(e))


class TestAdjustWaitBounded(WaitTestCase):
    """--wait ends within its timeout, and rides out API errors."""

    def setUp(self):
        super().setUp()
        # a wait that never ends fails here rather than hanging the run
        self.useFixture(fixtures.Timeout(20, gentle=True))
        # a clock that moves only when the command sleeps
        self.now = [1000.0]
        self.useFixture(fixtures.MockPatch(
            'time.monotonic', side_effect=lambda: self.now[0]))
        self.sleeps.side_effect = lambda s: self.now.__setitem__(
            0, self.now[0] + s)

    def test_default_timeout(self):
        # an adjust that never ends (its message was lost, say)
        self.servers(base.server(), base.server('xloud_adjusting'))
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--wait'])
        self.assertEqual(
            'Gave up waiting for the adjust of server web1 after 300 s '
            '(xloud_adjusting); "openstack server adjust show web1" shows '
            'where it stands', str(e))
        self.assertEqual(1300.0, self.now[0])

    def test_wait_timeout(self):
        self.servers(base.server(), base.server('xloud_adjusting'))
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--wait',
                               '--wait-timeout', '5'])
        self.assertIn('after 5 s (xloud_adjusting)', str(e))
        # it slept 2 + 2 + 1 s, and looked once more at each end
        self.assertEqual([2, 2, 1], [c.args[0]
                                     for c in self.sleeps.call_args_list])

    def test_bad_wait_timeout(self):
        for value in ('0', '-3', 'soon'):
            self.assertRaises(SystemExit, self.run_command,
                              [ID, '--vcpus', '3', '--wait',
                               '--wait-timeout', value])

    def test_server_errors_are_retried(self):
        self.mock.get(base.COMPUTE + SERVER, [
            {'json': base.server()},
            {'status_code': 503, 'json': {'computeFault': {
                'code': 503, 'message': 'Service Unavailable'}}},
            {'status_code': 502, 'text': '<html>Bad Gateway</html>'},
            {'json': base.server('xloud_adjusting')},
            {'json': base.server()}])
        self.mock.get(base.COMPUTE + ACTION, [
            {'status_code': 500, 'json': {'computeFault': {
                'code': 500, 'message': 'oops'}}},
            {'json': base.action(base.event('Success'))}])
        self.mock.get(base.COMPUTE + ADJUST, [
            {'status_code': 504, 'text': 'Gateway Timeout'},
            {'json': {'xloud_adjust': base.ENVELOPE}}])
        self.run_command([ID, '--vcpus', '3', '--wait'])
        self.assertEqual('Complete: server web1 runs with 3 vCPUs and '
                         '1536 MiB\n', self.app.stdout.getvalue())

    def test_no_answer_is_retried(self):
        self.mock.get(base.COMPUTE + SERVER, [
            {'json': base.server()},
            {'exc': requests_exceptions.ConnectionError('refused')},
            {'json': base.server()}])
        self.actions(base.action(base.event('Success')))
        self.envelope()
        self.run_command([ID, '--vcpus', '3', '--wait'])
        self.assertIn('Complete', self.app.stdout.getvalue())

    def test_errors_until_the_timeout(self):
        self.mock.get(base.COMPUTE + SERVER, [
            {'json': base.server()},
            {'status_code': 503, 'json': {'computeFault': {
                'code': 503, 'message': 'Service Unavailable'}}}])
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--wait',
                               '--wait-timeout', '10'])
        self.assertIn('after 10 s (the compute API failed: ', str(e))

    def test_a_refusal_is_not_retried(self):
        self.mock.get(base.COMPUTE + SERVER, [
            {'json': base.server()}, self.fault(404)])
        e = self.assertRaises(exceptions.CommandError, self.run_command,
                              [ID, '--vcpus', '3', '--wait'])
        self.assertIn('could not be found', str(e))
        self.sleeps.assert_not_called()
