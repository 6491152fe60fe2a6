# Copyright 2026 XLoud Nova contributors
#
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

"""Nothing stuck, nothing dropped: live adjust under faults.

Compute restarts mid-adjust, lost, stale and duplicated messages, down
hosts, hosts that do not serve live adjust, and where minimum flavors may
be scheduled. Casts stay casts. After every fault the server has no task
state and its allocation equals what the domain has.
"""

import datetime
import time
from unittest import mock

import ddt
from keystoneauth1 import exceptions as ks_exc
import oslo_messaging as messaging

import nova.conf
from nova import exception
from nova import objects
from nova.scheduler.client import report
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import test_xloud_adjust
from nova.tests.unit import fake_requests
from nova.virt.libvirt import xloud as libvirt_xloud
from nova.xloud import compute as xloud_compute
from nova.xloud import inflight
from nova.xloud import placement
from nova.xloud import recovery as xloud_recovery
from nova.xloud import rpcapi as xloud_rpcapi

CONF = nova.conf.CONF
LOST = 'nova.xloud.rpcapi.XloudComputeAPI.xloud_adjust'


class FaultTestBase(test_xloud_adjust.XloudAdjustTestBase):

    def setUp(self):
        super().setUp()
        self.start_compute('compute1')
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none')

    def _task_state(self, server=None):
        return self.admin_api.get_server(
            (server or self.server)['id'])['OS-EXT-STS:task_state']

    def _domain_sizes(self, server=None):
        """{'VCPU': n, 'MEMORY_MB': m} the domain runs at."""
        maximum, vcpus, _max_kib, kib = self._sizes(server or self.server)
        # a domain with no "current" runs all its vCPUs
        return {'VCPU': maximum if vcpus is None else vcpus,
                'MEMORY_MB': kib // 1024}

    def _assert_settled(self, vcpus, memory_mb, server=None):
        """No task; domain, allocation and GET all say these sizes."""
        server = server or self.server
        self.assertIsNone(self._task_state(server))
        expected = {'VCPU': vcpus, 'MEMORY_MB': memory_mb}
        self.assertEqual(expected, self._domain_sizes(server))
        self.assertEqual(expected, self._allocation(server))
        view = self._get(server)
        self.assertEqual((vcpus, memory_mb), (view['vcpus']['current'],
                                              view['memory_mb']['current']))
        self.assertEqual((vcpus, memory_mb), (view['vcpus']['allocated'],
                                              view['memory_mb']['allocated']))

    def _post_lost(self, **body):
        """POST an adjust whose message never reaches the compute."""
        with mock.patch(LOST) as cast:
            self.assertEqual(202, self._post(self.server, **body).status)
        cast.assert_called_once()
        self.assertEqual(inflight.ADJUSTING, self._task_state())

    def _instance(self):
        return objects.Instance.get_by_uuid(
            self.ctxt, self.server['id'],
            expected_attrs=['flavor', 'system_metadata'])

    def _assert_interrupted(self):
        event = self._wait_for_instance_action_event(
            self.server, 'xloud-adjust', 'compute_xloud_adjust', 'error')
        self.assertIn('The adjust was interrupted', event['details'])


class RestartTest(FaultTestBase):

    def test_claimed_but_not_applied(self):
        self._post_lost(current_vcpus=3, current_memory_mb=1536)
        # the growth is claimed, the domain is untouched
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(self.server))
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 512},
                         self._domain_sizes())

        self.restart_compute_service('compute1')

        self._assert_settled(1, 512)
        self._assert_interrupted()
        # and the server can be adjusted again
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        self._assert_settled(2, 1024)

    def test_applied_but_not_recorded(self):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536)
        self._post_lost(current_vcpus=2, current_memory_mb=1024)
        # nova-compute changed the guest and died before it recorded it
        self.computes['compute1'].driver.xloud_adjust(
            self._instance(), 2, 1024, True)
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._domain_sizes())
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(self.server))

        self.restart_compute_service('compute1')

        self._assert_settled(2, 1024)
        self._assert_interrupted()


class LostMessageTest(FaultTestBase):

    def test_periodic_task_resolves_a_lost_adjust(self):
        self.flags(adjust_timeout=60, group='xloud')
        self._post_lost(current_vcpus=3)
        manager = self.computes['compute1'].manager

        # not yet: the adjust may still be on its way
        manager._xloud_resolve_lost_adjusts(self.ctxt)
        self.assertEqual(inflight.ADJUSTING, self._task_state())

        # it began longer ago than the timeout
        instance = self._instance()
        instance.system_metadata[inflight.SYSMETA_SINCE] = (
            '2026-01-01T00:00:00')
        instance.save()
        manager._xloud_resolve_lost_adjusts(self.ctxt)

        self._assert_settled(1, 512)
        self._assert_interrupted()

    def test_an_adjust_received_is_never_lost(self):
        # Its work outlasts adjust_timeout, and the periodic task runs
        # meanwhile: the compute has the message, so it is not lost.
        self.flags(adjust_timeout=10, group='xloud')
        compute = self.computes['compute1']
        real = compute.driver.xloud_adjust
        resolved = []

        def slow(*args):
            long_ago = mock.Mock(return_value=datetime.timedelta(hours=1))
            with mock.patch.object(inflight, 'age', long_ago), \
                    mock.patch.object(xloud_recovery,
                                      'resolve_safely') as resolve:
                compute.manager._xloud_resolve_lost_adjusts(self.ctxt)
            long_ago.assert_called_once()  # it looked at this adjust
            resolved.append(resolve.call_count)
            return real(*args)
        with mock.patch.object(compute.driver, 'xloud_adjust',
                               side_effect=slow):
            self._adjust(self.server, current_vcpus=3)
        self.assertEqual([0], resolved)
        self._assert_settled(3, 512)

    def test_defaults_end_a_lost_adjust_within_a_minute(self):
        # The bound the admin guide documents: adjust_timeout plus one
        # interval of the periodic task.
        self.assertLessEqual(
            CONF.xloud.adjust_timeout + CONF.xloud.lost_adjust_interval, 60)

    def test_option_is_listed_by_the_config_generator(self):
        from nova.conf import opts
        groups = {getattr(group, 'name', group): [o.name for o in options]
                  for group, options in opts.list_opts()}
        for name in ('adjust_timeout', 'lost_adjust_interval'):
            self.assertIn(name, groups['xloud'])


class StaleMessageTest(FaultTestBase):

    def setUp(self):
        super().setUp()
        self.sent = []
        real = xloud_rpcapi.XloudComputeAPI.xloud_adjust

        def record(rpc, *args):
            self.sent.append((rpc, args))
            return real(rpc, *args)
        # a plain function, so it binds to the API's XloudComputeAPI
        patcher = mock.patch.object(xloud_rpcapi.XloudComputeAPI,
                                    'xloud_adjust', new=record)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.real = real
        self.driver_adjust = mock.patch.object(
            self.computes['compute1'].driver, 'xloud_adjust',
            wraps=self.computes['compute1'].driver.xloud_adjust).start()
        self.addCleanup(mock.patch.stopall)

    def _resend(self, message):
        """Send a message again, and wait until the compute dropped it."""
        rpc, args = message
        with mock.patch.object(xloud_compute.LOG, 'warning') as warned:
            self.real(rpc, *args)
            for _ in range(100):
                if any('stale' in c.args[0] for c in warned.call_args_list):
                    return
                time.sleep(0.05)
        self.fail('the compute never dropped the message')

    def test_duplicate_changes_nothing(self):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536)
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        self.assertEqual(2, self.driver_adjust.call_count)
        # the first message again, long after
        self._resend(self.sent[0])
        self.assertEqual(2, self.driver_adjust.call_count)
        self._assert_settled(2, 1024)

    def test_stale_message_during_another_adjust(self):
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        with mock.patch.object(xloud_rpcapi.XloudComputeAPI,
                               'xloud_adjust'):
            self._post(self.server, current_vcpus=4)
        claimed = self._allocation(self.server)
        self.assertEqual({'VCPU': 4, 'MEMORY_MB': 1024}, claimed)
        # the message of the first adjust arrives while the second is in
        # flight: neither the domain nor placement changes
        self._resend(self.sent[0])
        self.assertEqual(1, self.driver_adjust.call_count)
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._domain_sizes())
        self.assertEqual(claimed, self._allocation(self.server))
        self.assertEqual(inflight.ADJUSTING, self._task_state())


class RefusedHostTest(FaultTestBase):

    def _assert_nothing_changed(self, before, actions):
        self.assertIsNone(self._task_state())
        self.assertEqual(before, self._state(self.server))
        self.assertEqual(actions, len(self.admin_api.get_instance_actions(
            self.server['id'])))

    def test_forced_down_host(self):
        before = self._state(self.server)
        actions = len(self.admin_api.get_instance_actions(self.server['id']))
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='compute1')
        self.admin_api.put_service_force_down(service['id'], True)
        self.assertIn('is down or forced down',
                      self._refused(409, self.server, current_vcpus=3))
        self._assert_nothing_changed(before, actions)

    def test_compute_without_the_namespace(self):
        # a compute downgraded to upstream Nova: it keeps the trait (upstream
        # leaves custom traits alone) but no longer says it serves xloud
        with mock.patch('nova.xloud.rpcapi.advertise'):
            self.restart_compute_service('compute1')
        rp = self._get_provider_uuid_by_host('compute1')
        self.assertIn('CUSTOM_XLOUD_ADJUST', self._get_provider_traits(rp))
        before = self._state(self.server)
        actions = len(self.admin_api.get_instance_actions(self.server['id']))
        self.assertIn('cannot adjust servers live',
                      self._refused(409, self.server, current_vcpus=3))
        self._assert_nothing_changed(before, actions)

    def test_placement_down(self):
        before = self._state(self.server)
        with mock.patch('nova.scheduler.client.report.SchedulerReportClient'
                        '.get_allocs_for_consumer',
                        side_effect=exception.
                        ConsumerAllocationRetrievalFailed(
                            consumer_uuid=self.server['id'], error='503')):
            self.assertIn('placement service is unavailable',
                          self._refused(503, self.server, current_vcpus=3))
        self.assertEqual(before, self._state(self.server))
        self.assertIsNone(self._task_state())


class AmbiguousCastTest(FaultTestBase):
    """The cast raises, but the broker may have taken the message."""

    def _cast(self, sent, error):
        """The adjust's cast: sent (or not), then ``error``."""
        real = xloud_rpcapi.XloudComputeAPI.xloud_adjust
        ctxt = self.ctxt

        def cast(api, context, instance, *args, **kwargs):
            if sent:
                real(api, context, instance, *args, **kwargs)
                # a publish retried during a failover: the first one
                # landed, and the compute has done its work
                for _ in range(200):
                    if objects.Instance.get_by_uuid(
                            ctxt, instance.uuid).task_state is None:
                        break
                    time.sleep(0.05)
            raise error
        return mock.patch.object(xloud_rpcapi.XloudComputeAPI,
                                 'xloud_adjust', new=cast)

    def test_delivered_then_failed_undoes_nothing(self):
        with self._cast(True, messaging.MessageDeliveryFailure('retried')):
            resp = self._post(self.server, current_vcpus=3,
                              current_memory_mb=1536)
        # accepted: it is in flight, and ends as its compute says
        self.assertEqual(202, resp.status, resp.body)
        self._wait_for_adjust(self.server)
        # the size the admin asked for, everywhere
        self._assert_settled(3, 1536)
        self.assertEqual((3, 1536), (self._get(self.server)['vcpus'][
            'next_boot'], self._get(self.server)['memory_mb']['next_boot']))

    def test_not_delivered_is_resolved(self):
        # the same failure, but the message never left: the adjust stays
        # in flight until the resolver reads the hypervisor
        with self._cast(False, messaging.MessageDeliveryFailure('down')):
            self.assertEqual(202, self._post(
                self.server, current_vcpus=3, current_memory_mb=1536).status)
        self.assertEqual(inflight.ADJUSTING, self._task_state())
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(self.server))  # the claim holds
        instance = self._instance()
        instance.system_metadata[inflight.SYSMETA_SINCE] = (
            '2026-01-01T00:00:00')
        instance.save()
        self.computes['compute1'].manager._xloud_resolve_lost_adjusts(
            self.ctxt)
        self._assert_settled(1, 512)
        self._assert_interrupted()

    def test_certainly_not_sent_is_undone(self):
        before = self._state(self.server)
        with self._cast(False, messaging.InvalidTarget('no', None)):
            self.assertIn('could not be sent', self._refused(
                503, self.server, current_vcpus=3))
        self.assertIsNone(self._task_state())
        self.assertEqual(before, self._state(self.server))


@ddt.ddt
class PlacementFailsTest(RefusedHostTest):
    """Whatever placement does on the API's path: 503, nothing changes.

    Placement itself answers an error (or cannot be reached) for one kind
    of request; Nova's report client turns that into whatever it raises.
    """

    def _failing(self, method, path, how):
        real = getattr(report.SchedulerReportClient, method)

        def call(client, url, *args, **kwargs):
            if path not in url:
                return real(client, url, *args, **kwargs)
            if how == 'unreachable':
                raise ks_exc.ConnectFailure('placement is unreachable')
            return fake_requests.FakeResponse(
                503, content='{"errors": [{"status": 503, '
                             '"title": "Service Unavailable"}]}')
        return mock.patch.object(report.SchedulerReportClient, method,
                                 new=call)

    @ddt.data(*[(method, path, how)
                for method, path in (('get', '/allocations/'),
                                     ('get', '/traits'),
                                     ('put', '/allocations/'))
                for how in ('an error', 'unreachable')])
    @ddt.unpack
    def test_adjust(self, method, path, how):
        before = self._state(self.server)
        actions = len(self.admin_api.get_instance_actions(self.server['id']))
        with self._failing(method, path, how):
            # a growth, so that the claim (the PUT) is on the path too
            self.assertIn('placement service is unavailable',
                          self._refused(503, self.server, current_vcpus=3))
        self._assert_nothing_changed(before, actions)

    @ddt.data('an error', 'unreachable')
    def test_show(self, how):
        with self._failing('get', '/allocations/', how):
            exc = self.assertRaises(
                client.OpenStackApiException, self.admin_api.api_get,
                self._url(self.server))
        self.assertEqual(503, exc.response.status_code, exc.response.text)


class SchedulingTest(test_xloud_adjust.XloudAdjustTestBase):
    """A minimum flavor goes only to hosts that honour minimums."""

    def _start_without_support(self, host):
        with mock.patch.object(libvirt_xloud, 'SUPPORTED_VIRT_TYPES', ()):
            self.start_compute(host)

    def test_never_on_a_host_without_support(self):
        self._start_without_support('plain')
        server = self._create_server(flavor_id=self.flavor, networks='none',
                                     expected_state='ERROR')
        self.assertIn('No valid host',
                      self.admin_api.get_server(server['id'])['fault'][
                          'message'])
        # a plain flavor still fits there
        plain = self._flavor(vcpus=1, memory_mb=512)
        self._create_server(flavor_id=plain, networks='none')

        self.start_compute('xloud')
        for _ in range(3):
            server = self._create_server(flavor_id=self.flavor,
                                         networks='none')
            self.assertEqual('xloud', server['OS-EXT-SRV-ATTR:host'])


class FollowRaceTest(FaultTestBase):
    """An adjust accepted while a reboot's follow-the-guest runs.

    A reboot ends its task, then makes the record and the allocation
    follow the rebooted guest. An admin's adjust accepted in between
    must keep its token and its growth claim, and end at its size.
    """

    def test_adjust_accepted_after_the_reboot_ended_its_task(self):
        # running at 2 / 1024 for this boot only: the reboot changes the
        # record (back to 1 / 512), which follow-the-guest then saves
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024,
                     persist=False)
        real = placement.follow_guest
        accepted, claimed = [], []

        def follow(*args, **kwargs):
            if not accepted:
                resp = self._post(self.server, current_vcpus=4,
                                  current_memory_mb=2048)
                accepted.append(resp.status)
            real(*args, **kwargs)
            # the adjust waits for the reboot's lock: its claim holds
            claimed.append(self._allocation(self.server))
        with mock.patch.object(placement, 'follow_guest',
                               side_effect=follow):
            self._reboot_server(self.server, hard=True)
            self.assertEqual([202], accepted)
            self._wait_for_adjust(self.server)
        self.assertEqual([{'VCPU': 4, 'MEMORY_MB': 2048}], claimed)
        self._assert_settled(4, 2048)
        self._wait_for_instance_action_event(
            self.server, 'xloud-adjust', 'compute_xloud_adjust', 'success')
