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

"""The xloud_adjust endpoint of nova-compute."""

import datetime
from unittest import mock

import fixtures
from oslo_concurrency import lockutils
import oslo_messaging as messaging
from oslo_utils import fixture as utils_fixture
from oslo_utils.fixture import uuidsentinel as uuids
from oslo_utils import timeutils

from nova.compute import manager as compute_manager
from nova.compute import vm_states
from nova import context
from nova import exception
from nova import test
from nova.tests.unit import fake_instance
from nova.tests.unit.xloud import fakes
from nova.virt import driver
from nova.xloud import compute as xloud_compute
from nova.xloud import inflight
from nova.xloud import placement
from nova.xloud import records
from nova.xloud import recovery as xloud_recovery

TOKEN = 'req-' + uuids.token


def _instance(ctxt):
    flavor = fakes.flavor()
    sysmeta = fakes.adjusted_sysmeta()
    instance = fake_instance.fake_instance_obj(
        ctxt, uuid=uuids.instance, host='compute1', flavor=flavor,
        vm_state=vm_states.ACTIVE, task_state=inflight.ADJUSTING)
    sysmeta[inflight.SYSMETA_TOKEN] = TOKEN
    sysmeta[inflight.SYSMETA_SINCE] = '2026-12-01T10:00:00'
    instance.system_metadata = sysmeta
    instance.obj_reset_changes()
    return instance


class _Base(test.NoDBTestCase):
    """A compute host whose database, placement and events are mocks."""

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.manager = mock.Mock(host='compute1')
        self.manager.driver = mock.Mock(spec=driver.ComputeDriver)
        self.instance = _instance(self.context)
        self.mock_resize = self.useFixture(fixtures.MockPatch(
            'nova.xloud.placement.resize', autospec=True)).mock
        self.mock_save = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.save', autospec=True)).mock
        self.mock_fault = self.useFixture(fixtures.MockPatch(
            'nova.compute.utils.add_instance_fault_from_exc',
            autospec=True)).mock
        self.mock_event_start = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceActionEvent.event_start',
            autospec=True)).mock
        self.mock_event_finish = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceActionEvent.event_finish_with_failure',
            autospec=True)).mock
        # the message's instance is what the database has, unless a test
        # says otherwise
        self.mock_refresh = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.refresh', autospec=True)).mock
        self.useFixture(fixtures.MockPatch(
            'nova.xloud.placement.provider_of', autospec=True,
            return_value=uuids.node))
        self.mock_notify = self.useFixture(fixtures.MockPatch(
            'nova.xloud.notify.adjust', autospec=True)).mock
        self.mock_size = self.useFixture(fixtures.MockPatch(
            'nova.xloud.notify.size', autospec=True)).mock


class XloudComputeEndpointTestCase(_Base):

    def setUp(self):
        super().setUp()
        self.endpoint = xloud_compute.XloudComputeEndpoint(self.manager)

    def _adjust(self, vcpus=3, memory_mb=1536, persist=True):
        self.endpoint.xloud_adjust(self.context, instance=self.instance,
                                   vcpus=vcpus, memory_mb=memory_mb,
                                   persist=persist)

    def _assert_recorded(self, live, next_boot):
        self.assertEqual(live, records.live(self.instance))
        self.assertEqual(next_boot, records.next_boot(self.instance))
        self.mock_resize.assert_called_once_with(
            self.manager.reportclient, self.context, uuids.instance,
            {'VCPU': live['vcpus'], 'MEMORY_MB': live['memory_mb']},
            rp_uuid=uuids.node)
        self.assertIsNone(self.instance.task_state)
        self.assertIsNone(inflight.token(self.instance))
        self.mock_save.assert_called_once_with(
            expected_task_state=[inflight.ADJUSTING])

    def test_target(self):
        target = xloud_compute.XloudComputeEndpoint.target
        self.assertEqual(('xloud', '1.2'), (target.namespace, target.version))

    def test_served_by_the_compute_manager(self):
        endpoints = [e for e in compute_manager.ComputeManager()
                     .additional_endpoints
                     if isinstance(e, xloud_compute.XloudComputeEndpoint)]
        self.assertEqual(1, len(endpoints))

    def test_success(self):
        self.manager.driver.xloud_adjust.return_value = {
            'vcpus': 3, 'memory_mb': 1536}
        self._adjust()
        self.manager.driver.xloud_adjust.assert_called_once_with(
            self.instance, 3, 1536, True)
        self._assert_recorded({'vcpus': 3, 'memory_mb': 1536},
                              {'vcpus': 3, 'memory_mb': 1536})
        self.mock_event_start.assert_called_once_with(
            self.context, uuids.instance, 'compute_xloud_adjust',
            want_result=False, host='compute1')
        self.mock_event_finish.assert_called_once_with(
            self.context, uuids.instance, 'compute_xloud_adjust',
            exc_val=None, exc_tb=None, want_result=False)
        self.mock_fault.assert_not_called()

    def test_success_not_persisted(self):
        self.manager.driver.xloud_adjust.return_value = {
            'vcpus': 3, 'memory_mb': 1536}
        self._adjust(persist=False)
        self._assert_recorded({'vcpus': 3, 'memory_mb': 1536},
                              {'vcpus': 2, 'memory_mb': 1024})

    def test_left_out_resource_keeps_its_size(self):
        self.manager.driver.xloud_adjust.return_value = {
            'vcpus': 2, 'memory_mb': 512}
        self._adjust(vcpus=None, memory_mb=512)
        self.manager.driver.xloud_adjust.assert_called_once_with(
            self.instance, 2, 512, True)

    def test_records_what_the_driver_reports(self):
        # the allocation follows the guest, not the request
        self.manager.driver.xloud_adjust.return_value = {
            'vcpus': 3, 'memory_mb': 1280}
        self._adjust()
        self._assert_recorded({'vcpus': 3, 'memory_mb': 1280},
                              {'vcpus': 3, 'memory_mb': 1280})

    def test_adjust_failed_reconciles_to_the_guest(self):
        error = records.XloudAdjustFailed(
            live={'vcpus': 3, 'memory_mb': 1024}, reason='balloon stuck')
        self.manager.driver.xloud_adjust.side_effect = error

        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust)

        self.assertIs(error, exc)
        # what the guest has now, and not persisted
        self._assert_recorded({'vcpus': 3, 'memory_mb': 1024},
                              {'vcpus': 2, 'memory_mb': 1024})
        self.mock_fault.assert_called_once_with(
            self.context, self.instance, error, mock.ANY)
        self.assertIs(error, self.mock_event_finish.call_args.kwargs[
            'exc_val'])

    @mock.patch.object(xloud_recovery.LOG, 'exception')
    def test_allocation_failure_is_logged(self, mock_log):
        self.manager.driver.xloud_adjust.return_value = {
            'vcpus': 3, 'memory_mb': 1536}
        self.mock_resize.side_effect = placement.XloudHostFull(
            uuid=uuids.instance, resources='VCPU=3')
        self._adjust()
        mock_log.assert_called_once()
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536},
                         records.live(self.instance))
        self.assertIsNone(self.instance.task_state)

    def test_driver_without_support(self):
        self.manager.driver.xloud_adjust.side_effect = NotImplementedError
        # an expected exception: the RPC server does not log it as an error
        exc = self.assertRaises(messaging.ExpectedException, self._adjust)
        self.assertIs(NotImplementedError, exc.exc_info[0])
        # growth the API claimed is given back
        self._assert_recorded({'vcpus': 2, 'memory_mb': 1024},
                              {'vcpus': 2, 'memory_mb': 1024})
        self.mock_fault.assert_called_once()

    def test_notifications(self):
        self.manager.driver.xloud_adjust.return_value = {
            'vcpus': 3, 'memory_mb': 1280}
        self._adjust()
        before = {'vcpus': 2, 'memory_mb': 1024}
        self.assertEqual([
            mock.call(self.context, self.instance, 'compute1', 'start',
                      before, {'vcpus': 3, 'memory_mb': 1536}, True),
            mock.call(self.context, self.instance, 'compute1', 'end',
                      before, {'vcpus': 3, 'memory_mb': 1280}, True),
        ], self.mock_notify.call_args_list)

    def test_error_notification(self):
        error = records.XloudAdjustFailed(
            live={'vcpus': 3, 'memory_mb': 1024}, reason='balloon stuck')
        self.manager.driver.xloud_adjust.side_effect = error
        self.assertRaises(records.XloudAdjustFailed, self._adjust)
        # persist=True was asked; what the failure recorded is for this
        # boot only, and the payload says what was recorded
        self.assertEqual(
            mock.call(self.context, self.instance, 'compute1', 'error',
                      {'vcpus': 2, 'memory_mb': 1024},
                      {'vcpus': 3, 'memory_mb': 1024}, False,
                      exception=error),
            self.mock_notify.call_args)
        self.mock_size.assert_called_once_with(
            self.context, self.instance, {'vcpus': 3, 'memory_mb': 1024})

    def _assert_untouched(self):
        self.manager.driver.xloud_adjust.assert_not_called()
        self.mock_resize.assert_not_called()
        self.mock_save.assert_not_called()
        self.mock_event_start.assert_not_called()
        self.mock_fault.assert_not_called()
        self.mock_notify.assert_not_called()

    def test_stale_message_of_another_adjust(self):
        def newer_adjust_in_flight():
            self.instance.system_metadata[inflight.SYSMETA_TOKEN] = (
                'req-newer')
        self.mock_refresh.side_effect = newer_adjust_in_flight
        with mock.patch.object(xloud_compute.LOG, 'warning') as mock_log:
            self._adjust()
        self._assert_untouched()
        self.assertIn('stale', mock_log.call_args.args[0])

    def test_duplicate_message_after_the_adjust(self):
        def finished():
            inflight.end(self.instance)
        self.mock_refresh.side_effect = finished
        self._adjust()
        self._assert_untouched()

    def test_message_without_token_of_a_tokenless_adjust(self):
        # An adjust begun by a build that recorded no token: its message
        # cannot be told from a stale one, so it is not applied, but the
        # server does not stay in xloud_adjusting either. It ends at what
        # the hypervisor says, and keeps its next-boot size.
        del self.instance.system_metadata[inflight.SYSMETA_TOKEN]
        self.manager.driver.xloud_sizes.return_value = {
            'vcpus': 3, 'memory_mb': 1280}
        self._adjust(vcpus=4, memory_mb=2048)
        self.manager.driver.xloud_adjust.assert_not_called()
        self.assertIsNone(self.instance.task_state)
        self.assertEqual({'vcpus': 3, 'memory_mb': 1280},
                         records.live(self.instance))
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         records.next_boot(self.instance))
        self.mock_resize.assert_called_once_with(
            self.manager.reportclient, mock.ANY, uuids.instance,
            {'VCPU': 3, 'MEMORY_MB': 1280}, rp_uuid=uuids.node)
        self.mock_fault.assert_called_once()

    def test_message_without_token_while_another_adjust_is_in_flight(self):
        def tokened_adjust_in_flight():
            self.instance.system_metadata[inflight.SYSMETA_TOKEN] = TOKEN
        del self.instance.system_metadata[inflight.SYSMETA_TOKEN]
        self.mock_refresh.side_effect = tokened_adjust_in_flight
        self._adjust()
        self._assert_untouched()
        self.manager.driver.xloud_sizes.assert_not_called()


class HealTestCase(_Base):
    """audit --fix: the allocation is set to what the hypervisor says."""

    def setUp(self):
        super().setUp()
        self.instance.task_state = None
        self.instance.obj_reset_changes()
        self.read = records.record_of(self.instance)  # what the audit read
        self.endpoint = xloud_compute.XloudComputeEndpoint(self.manager)

    def _heal(self):
        return self.endpoint.xloud_heal(self.context, self.instance,
                                        self.read)

    def test_the_hypervisor_says(self):
        # the record says 2 / 1024; the guest has 3 / 1536
        self.manager.driver.xloud_sizes.return_value = {
            'vcpus': 3, 'memory_mb': 1536}
        self.assertEqual(('healed', {'vcpus': 3, 'memory_mb': 1536}),
                         self._heal())
        self.mock_resize.assert_called_once_with(
            self.manager.reportclient, self.context, uuids.instance,
            {'VCPU': 3, 'MEMORY_MB': 1536}, rp_uuid=uuids.node)
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536},
                         records.live(self.instance))
        self.mock_save.assert_called_once_with(expected_task_state=[None])

    def test_changed_since_it_was_read(self):
        def adjusted_meanwhile():
            records.record(self.instance, {'vcpus': 4, 'memory_mb': 2048},
                          persist=True)
        self.mock_refresh.side_effect = adjusted_meanwhile
        self.assertEqual(('changed', None), self._heal())
        self.manager.driver.xloud_sizes.assert_not_called()
        self.mock_resize.assert_not_called()
        self.mock_save.assert_not_called()

    def test_held_lock_is_busy_at_once(self):
        # an adjust (or a delete) holds the server: the audit is answered
        # at once rather than waiting for it
        with lockutils.lock(self.instance.uuid):
            self.assertEqual(('busy', None), self._heal())
        self.mock_refresh.assert_not_called()
        self.mock_resize.assert_not_called()

    def test_busy(self):
        def adjust_began():
            self.instance.task_state = inflight.ADJUSTING
        self.mock_refresh.side_effect = adjust_began
        self.assertEqual(('busy', None), self._heal())
        self.mock_resize.assert_not_called()


class ResolveTestCase(_Base):
    """Adjusts left in flight: at start-up and when their message is lost."""

    def setUp(self):
        super().setUp()
        self.manager.driver.xloud_sizes.return_value = {
            'vcpus': 3, 'memory_mb': 1536}

    def _assert_resolved(self, live, token=TOKEN):
        self.mock_resize.assert_called_once_with(
            self.manager.reportclient, mock.ANY, uuids.instance,
            {'VCPU': live['vcpus'], 'MEMORY_MB': live['memory_mb']},
            rp_uuid=uuids.node)
        # under the adjust's request ID (none for an adjust without a
        # token: this request's, then), as its action was recorded
        ctxt = self.mock_resize.call_args.args[1]
        self.assertEqual(token or self.context.request_id, ctxt.request_id)
        # billing is told the size it runs at, and the adjust's error
        self.mock_size.assert_called_once_with(ctxt, self.instance, live)
        self.assertIs(ctxt, self.mock_notify.call_args.args[0])
        self.assertEqual(live, records.live(self.instance))
        # the next boot keeps what was persisted before
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         records.next_boot(self.instance))
        self.assertIsNone(self.instance.task_state)
        self.assertIsNone(inflight.token(self.instance))
        self.mock_save.assert_called_once_with(
            expected_task_state=[inflight.ADJUSTING])
        # the action the API recorded, found by its request ID
        ctxt = self.mock_event_start.call_args.args[0]
        self.assertEqual(token or self.context.request_id, ctxt.request_id)
        self.mock_event_start.assert_called_once_with(
            ctxt, uuids.instance, 'compute_xloud_adjust', want_result=False,
            host='compute1')
        error = self.mock_event_finish.call_args.kwargs['exc_val']
        self.assertIsInstance(error, xloud_recovery.XloudAdjustInterrupted)
        self.assertIn('interrupted', error.format_message())
        self.mock_fault.assert_called_once_with(self.context, self.instance,
                                                error)
        self.assertEqual('error', self.mock_notify.call_args.args[3])

    def test_at_start_from_the_hypervisor(self):
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        self.manager.driver.xloud_sizes.assert_called_once_with(
            self.instance)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536})

    def test_at_start_without_driver_support_keeps_the_record(self):
        self.manager.driver.xloud_sizes.side_effect = NotImplementedError
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        self._assert_resolved({'vcpus': 2, 'memory_mb': 1024})

    def test_at_start_other_task_states_are_left_alone(self):
        self.instance.task_state = 'rebooting'
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        self.mock_save.assert_not_called()
        self.manager.driver.xloud_sizes.assert_not_called()

    def _without_token(self):
        del self.instance.system_metadata[inflight.SYSMETA_TOKEN]
        del self.instance.system_metadata[inflight.SYSMETA_SINCE]
        self.instance.obj_reset_changes()

    def test_at_start_without_a_token(self):
        # begun by an older build, or left by a race: it ends all the same
        self._without_token()
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536}, token=None)

    @mock.patch('nova.objects.InstanceList.get_by_filters')
    def test_lost_without_a_token(self, mock_get):
        # with no recorded start, its age counts from its last update
        self.flags(adjust_timeout=30, group='xloud')
        self._without_token()
        self.instance.updated_at = timeutils.parse_isotime(
            '2026-12-01T10:00:00')
        mock_get.return_value = [self.instance]
        self.useFixture(utils_fixture.TimeFixture(
            self.instance.updated_at + datetime.timedelta(seconds=31)))
        xloud_compute.resolve_lost(self.manager, self.context)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536}, token=None)

    def test_audit_resolves_one_without_a_token(self):
        self._without_token()
        endpoint = xloud_compute.XloudComputeEndpoint(self.manager)
        sizes = endpoint.xloud_resolve(self.context, self.instance, None)
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536}, sizes)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536}, token=None)

    def test_audit_of_a_server_held_by_its_adjust_is_busy(self):
        endpoint = xloud_compute.XloudComputeEndpoint(self.manager)
        with lockutils.lock(self.instance.uuid):
            # expected: the RPC server returns it without a traceback
            exc = self.assertRaises(messaging.ExpectedException,
                                    endpoint.xloud_resolve, self.context,
                                    self.instance, TOKEN)
        self.assertIs(xloud_recovery.XloudServerBusy, exc.exc_info[0])
        self.manager.driver.xloud_sizes.assert_not_called()
        self.mock_save.assert_not_called()

    @mock.patch('nova.objects.InstanceList.get_by_filters')
    def test_lost_never_waits_for_a_held_server(self, mock_get):
        # The periodic task skips a server something holds (a delete
        # waiting for a slow guest, say): every other periodic task of the
        # compute runs on.
        mock_get.return_value = [self.instance]
        self._seconds_after_it_began(3600)
        with lockutils.lock(self.instance.uuid):
            xloud_compute.resolve_lost(self.manager, self.context)
        self.mock_save.assert_not_called()
        # and resolves it at its next look, once the server is free
        xloud_compute.resolve_lost(self.manager, self.context)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536})

    def test_audit_leaves_another_adjust_alone(self):
        # the audit read no token; a new adjust (with one) began since
        def tokened_adjust_in_flight():
            self.instance.system_metadata[inflight.SYSMETA_TOKEN] = TOKEN
        self._without_token()
        self.mock_refresh.side_effect = tokened_adjust_in_flight
        endpoint = xloud_compute.XloudComputeEndpoint(self.manager)
        self.assertIsNone(
            endpoint.xloud_resolve(self.context, self.instance, None))
        self.mock_save.assert_not_called()

    def _unrecorded(self, vm_state=vm_states.ACTIVE):
        self.instance.task_state = None
        self.instance.vm_state = vm_state
        self.instance.system_metadata = {}
        self.instance.obj_reset_changes()

    def test_at_start_a_server_with_no_record_gets_one(self):
        # booted at its maximum by an upstream compute, before XLoud
        self._unrecorded()
        self.manager.driver.xloud_sizes.return_value = {
            'vcpus': 4, 'memory_mb': 2048}
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        self.assertTrue(records.has_record(self.instance))
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.live(self.instance))
        # and its next boot does not shrink it
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.next_boot(self.instance))
        self.mock_save.assert_called_once_with()
        self.mock_resize.assert_not_called()
        self.mock_fault.assert_not_called()
        # billing is told what it runs at
        self.mock_size.assert_called_once_with(
            self.context, self.instance, {'vcpus': 4, 'memory_mb': 2048})

    def test_booted_tells_the_size_it_booted_at(self):
        xloud_compute.booted(self.context, self.instance)
        self.mock_size.assert_called_once_with(
            self.context, self.instance, records.live(self.instance))

    def test_booted_without_a_minimum_tells_nothing(self):
        self.instance.flavor.extra_specs = {}
        xloud_compute.booted(self.context, self.instance)
        self.mock_size.assert_not_called()

    def test_at_start_a_record_is_kept(self):
        self.instance.task_state = None
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        self.manager.driver.xloud_sizes.assert_not_called()
        self.mock_save.assert_not_called()

    def test_at_start_no_record_and_no_guest(self):
        for vm_state, error in ((vm_states.SHELVED_OFFLOADED, None),
                                (vm_states.ACTIVE,
                                 exception.InstanceNotFound(
                                     instance_id=uuids.instance)),
                                (vm_states.ACTIVE, NotImplementedError())):
            self._unrecorded(vm_state)
            self.manager.driver.xloud_sizes.reset_mock()
            self.manager.driver.xloud_sizes.side_effect = error
            xloud_compute.resolve_at_start(self.manager, self.context,
                                           self.instance)
            self.assertFalse(records.has_record(self.instance))
            self.mock_save.assert_not_called()

    @mock.patch.object(xloud_recovery.LOG, 'exception')
    def test_at_start_never_raises(self, mock_log):
        self.mock_save.side_effect = ValueError('db gone')
        xloud_compute.resolve_at_start(self.manager, self.context,
                                       self.instance)
        mock_log.assert_called_once()

    def _seconds_after_it_began(self, seconds):
        began = timeutils.parse_isotime(
            self.instance.system_metadata[inflight.SYSMETA_SINCE])
        self.useFixture(utils_fixture.TimeFixture(
            began + datetime.timedelta(seconds=seconds)))

    @mock.patch('nova.objects.InstanceList.get_by_filters')
    def test_lost_only_after_the_timeout(self, mock_get):
        self.flags(adjust_timeout=300, group='xloud')
        mock_get.return_value = [self.instance]
        self._seconds_after_it_began(299)
        xloud_compute.resolve_lost(self.manager, self.context)
        mock_get.assert_any_call(
            self.context, {'host': 'compute1', 'deleted': False,
                           'task_state': inflight.ADJUSTING},
            expected_attrs=['system_metadata', 'flavor'])
        self.mock_save.assert_not_called()

        self._seconds_after_it_began(301)
        xloud_compute.resolve_lost(self.manager, self.context)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536})
        self.assertIn('301 seconds', self.mock_event_finish.call_args.kwargs[
            'exc_val'].format_message())

    @mock.patch('nova.objects.InstanceList.get_by_filters')
    def test_lost_never_while_received(self, mock_get):
        # This nova-compute has the adjust's message: it is not lost,
        # however long its work takes.
        self.flags(adjust_timeout=30, group='xloud')
        mock_get.return_value = [self.instance]
        self._seconds_after_it_began(3600)
        token = inflight.token(self.instance)
        self.assertIsNotNone(token)
        with mock.patch.object(xloud_compute, '_RECEIVED', {token}):
            xloud_compute.resolve_lost(self.manager, self.context)
        self.mock_save.assert_not_called()
        self.manager.driver.xloud_sizes.assert_not_called()

        # once it is no longer being worked on, an hour is too long
        xloud_compute.resolve_lost(self.manager, self.context)
        self._assert_resolved({'vcpus': 3, 'memory_mb': 1536})

    def test_received_only_while_working(self):
        token = inflight.token(self.instance)
        seen = []

        def working(*args):
            seen.append(token in xloud_compute._RECEIVED)
            raise ValueError('the driver failed')
        with mock.patch.object(xloud_compute.XloudComputeEndpoint,
                               '_locked_adjust', side_effect=working):
            self.assertRaises(
                ValueError,
                xloud_compute.XloudComputeEndpoint(self.manager).xloud_adjust,
                self.context, self.instance, 3, None, True)
        self.assertEqual([True], seen)
        self.assertNotIn(token, xloud_compute._RECEIVED)

    def test_received_while_a_duplicate_comes_and_goes(self):
        # the broker delivers the message twice: the duplicate ends (stale)
        # while the first still works, and the adjust is still received
        token = inflight.token(self.instance)
        endpoint = xloud_compute.XloudComputeEndpoint(self.manager)
        seen = []

        def working(*args):
            if len(seen) == 0:
                seen.append('first')
                endpoint.xloud_adjust(self.context, self.instance, 3, None,
                                      True)
                seen.append(token in xloud_compute._RECEIVED)
            else:
                seen.append('duplicate')
        with mock.patch.object(xloud_compute.XloudComputeEndpoint,
                               '_locked_adjust', side_effect=working):
            endpoint.xloud_adjust(self.context, self.instance, 3, None, True)
        self.assertEqual(['first', 'duplicate', True], seen)
        self.assertNotIn(token, xloud_compute._RECEIVED)
