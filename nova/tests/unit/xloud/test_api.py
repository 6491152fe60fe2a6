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

"""The compute API of live adjust: refusals, the guard, claims, the cast."""

from unittest import mock

import ddt
import fixtures
import jsonschema
from keystoneauth1 import exceptions as ks_exc
import oslo_messaging as messaging
from oslo_utils.fixture import uuidsentinel as uuids

from nova.api.openstack.compute.schemas import xloud_adjust as adjust_schema
from nova.compute import task_states
from nova.compute import vm_states
from nova import context
from nova import exception
from nova import objects
from nova import test
from nova.tests.unit.xloud import fakes
from nova.xloud import api as xloud_api
from nova.xloud import inflight
from nova.xloud import placement
from nova.xloud import records
from nova.xloud import rpcapi
from nova.xloud import sizing


def _instance(**updates):
    flavor = fakes.flavor()
    sysmeta = fakes.adjusted_sysmeta()
    fields = dict(uuid=uuids.instance, host='compute1', node='node1',
                  locked=False, vm_state=vm_states.ACTIVE, task_state=None,
                  flavor=flavor, system_metadata=sysmeta)
    fields.update(updates)
    return objects.Instance(**fields)


class _Base(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.RequestContext('fake-user', 'fake-project')
        self.reportclient = self.useFixture(fixtures.MockPatch(
            'nova.scheduler.client.report.report_client_singleton')
        ).mock.return_value
        # every side effect, on one mock so their order can be checked
        self.calls = mock.Mock()
        for name, target in (
                ('save', 'nova.objects.Instance.save'),
                ('host_can_adjust', 'nova.xloud.placement.host_can_adjust'),
                ('resize', 'nova.xloud.placement.resize'),
                ('current', 'nova.xloud.placement.current'),
                ('action_start',
                 'nova.objects.InstanceAction.action_start')):
            mocked = self.useFixture(fixtures.MockPatch(
                target, autospec=True)).mock
            self.calls.attach_mock(mocked, name)
        for name, target in (
                ('event_start',
                 'nova.objects.InstanceActionEvent.event_start'),
                ('event_finish',
                 'nova.objects.InstanceActionEvent.'
                 'event_finish_with_failure')):
            mocked = self.useFixture(fixtures.MockPatch(
                target, autospec=True)).mock
            self.calls.attach_mock(mocked, name)
        # the host: its service is up and its compute serves live adjust
        self.service = objects.Service(host='compute1', forced_down=False)
        self.useFixture(fixtures.MockPatch(
            'nova.objects.Service.get_by_compute_host',
            return_value=self.service))
        self.node = objects.ComputeNode(uuid=uuids.node,
                                        stats={'xloud_rpc': '1.0'})
        self.mock_node = self.useFixture(fixtures.MockPatch(
            'nova.objects.ComputeNode.get_by_host_and_nodename',
            return_value=self.node)).mock
        self.mock_up = self.useFixture(fixtures.MockPatch(
            'nova.servicegroup.API.service_is_up',
            return_value=True)).mock
        self.allocations = {'allocations': {uuids.node: {}}}
        self.calls.host_can_adjust.return_value = self.allocations
        self.calls.resize.return_value = {'VCPU': 2, 'MEMORY_MB': 1024}
        self.api = xloud_api.API()
        self.api.rpcapi = mock.Mock(spec=rpcapi.XloudComputeAPI)
        self.calls.attach_mock(self.api.rpcapi.xloud_adjust, 'cast')
        # what a rollback reads back first: the adjust is still this
        # request's (its token is the request ID)
        self.reread = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.get_by_uuid',
            side_effect=lambda *a, **k: objects.Instance(
                uuid=uuids.instance, task_state=inflight.ADJUSTING,
                system_metadata={
                    inflight.SYSMETA_TOKEN: self.context.request_id}))).mock


@ddt.ddt
class AdjustRefusedTestCase(_Base):
    """Each refusal, in order, before anything changes.

    Every case also breaks all the checks after the one it is about, so an
    earlier check must win.
    """

    def _refused(self, exc_class, updates, persist=True, vcpus=3,
                 can_adjust=None):
        self.calls.host_can_adjust.return_value = can_adjust
        instance = _instance(**updates)
        task_state = instance.task_state
        exc = self.assertRaises(exc_class, self.api.adjust, self.context,
                                instance, vcpus=vcpus, memory_mb=1024,
                                persist=persist)
        for name in ('save', 'resize', 'action_start', 'cast'):
            getattr(self.calls, name).assert_not_called()
        self.assertEqual(task_state, instance.task_state)
        return exc

    def test_envelope(self):
        exc = self._refused(
            sizing.XloudEnvelopeInvalid,
            dict(locked=True, vm_state=vm_states.PAUSED,
                 task_state=task_states.REBOOTING), vcpus=5)
        self.assertIn('current_vcpus 5 is outside the allowed range 1-4',
                      str(exc))
        self.assertEqual(400, exc.code)
        self.calls.host_can_adjust.assert_not_called()

    def test_locked(self):
        self._refused(exception.InstanceIsLocked,
                      dict(locked=True, vm_state=vm_states.PAUSED,
                           task_state=task_states.REBOOTING))
        self.calls.host_can_adjust.assert_not_called()

    @ddt.data((vm_states.PAUSED, True), (vm_states.STOPPED, False),
              (vm_states.SUSPENDED, True), (vm_states.ERROR, True),
              (vm_states.SHELVED_OFFLOADED, True))
    @ddt.unpack
    def test_vm_state(self, vm_state, persist):
        exc = self._refused(exception.InstanceInvalidState,
                            dict(vm_state=vm_state,
                                 task_state=task_states.REBOOTING),
                            persist=persist)
        self.assertEqual(('vm_state', vm_state),
                         (exc.kwargs['attr'], exc.kwargs['state']))
        self.calls.host_can_adjust.assert_not_called()

    def test_task_state(self):
        exc = self._refused(exception.InstanceInvalidState,
                            dict(task_state=task_states.REBOOTING))
        self.assertEqual(('task_state', task_states.REBOOTING),
                         (exc.kwargs['attr'], exc.kwargs['state']))
        self.calls.host_can_adjust.assert_not_called()

    def test_host_cannot_adjust(self):
        exc = self._refused(xloud_api.XloudHostCannotAdjust, {})
        self.assertEqual(409, exc.code)
        self.calls.host_can_adjust.assert_called_once_with(
            self.reportclient, self.context, uuids.instance, uuids.node)

    def test_host_down(self):
        # servicegroup judges it: a forced-down service is down too
        self.mock_up.return_value = False
        exc = self._refused(xloud_api.XloudHostDown, {})
        self.assertEqual(409, exc.code)
        self.mock_up.assert_called_once_with(self.service)
        self.calls.host_can_adjust.assert_not_called()

    def test_compute_does_not_serve_the_namespace(self):
        # an upstream nova-compute, or one downgraded to it: its node's
        # stats lack the key even where the trait was left behind
        self.node.stats = {'num_instances': '1'}
        exc = self._refused(xloud_api.XloudHostCannotAdjust, {},
                            can_adjust=self.allocations)
        self.assertEqual(409, exc.code)
        self.calls.host_can_adjust.assert_not_called()

    def test_compute_node_not_found(self):
        self.mock_node.side_effect = exception.ComputeHostNotFound(
            host='compute1')
        self._refused(xloud_api.XloudHostCannotAdjust, {})

    @ddt.data(ks_exc.ConnectFailure(),
              ks_exc.EndpointNotFound(),
              exception.ConsumerAllocationRetrievalFailed(
                  consumer_uuid=uuids.instance, error='500'),
              exception.ResourceProviderTraitRetrievalFailed(
                  uuid=uuids.node),
              exception.AllocationUpdateFailed(
                  consumer_uuid=uuids.instance, error='500'))
    def test_placement_unavailable(self, error):
        self.calls.host_can_adjust.side_effect = error
        instance = _instance()
        exc = self.assertRaises(xloud_api.XloudPlacementUnavailable,
                                self.api.adjust, self.context, instance,
                                vcpus=3)
        self.assertEqual(503, exc.code)
        for name in ('save', 'resize', 'action_start', 'cast'):
            getattr(self.calls, name).assert_not_called()
        self.assertIsNone(instance.task_state)

    def test_task_state_guard(self):
        # a racing request took the server after our checks
        instance = _instance()
        self.calls.save.side_effect = exception.UnexpectedTaskStateError(
            instance_uuid=uuids.instance, expected=[None],
            actual=inflight.ADJUSTING)
        exc = self.assertRaises(exception.InstanceInvalidState,
                                self.api.adjust, self.context, instance,
                                vcpus=3)
        self.assertEqual(('task_state', inflight.ADJUSTING),
                         (exc.kwargs['attr'], exc.kwargs['state']))
        self.calls.save.assert_called_once_with(expected_task_state=[None])
        for name in ('resize', 'action_start', 'cast'):
            getattr(self.calls, name).assert_not_called()


class AdjustTestCase(_Base):

    def _adjust(self, instance, **kwargs):
        self.api.adjust(self.context, instance, **kwargs)

    def test_growth_is_claimed_before_the_cast(self):
        instance = _instance()
        # vCPUs grow, memory shrinks: only the growth is claimed here
        self._adjust(instance, vcpus=3, memory_mb=512)
        self.assertEqual(inflight.ADJUSTING, instance.task_state)
        self.assertEqual([
            mock.call.host_can_adjust(self.reportclient, self.context,
                                      uuids.instance, uuids.node),
            mock.call.save(expected_task_state=[None]),
            mock.call.resize(self.reportclient, self.context,
                             uuids.instance, {'VCPU': 3},
                             rp_uuid=uuids.node, allocs=self.allocations),
            mock.call.action_start(self.context, uuids.instance,
                                   'xloud-adjust', want_result=False),
            mock.call.cast(self.context, instance, 3, 512, True),
        ], self.calls.mock_calls)

    def test_token_is_recorded_with_the_task_state(self):
        instance = _instance()
        self.context.request_id = 'req-' + uuids.request
        self._adjust(instance, vcpus=3)
        self.assertEqual('req-' + uuids.request, inflight.token(instance))
        self.assertIn(inflight.SYSMETA_SINCE, instance.system_metadata)

    def test_growth_of_both(self):
        self._adjust(_instance(), vcpus=4, memory_mb=2048)
        self.calls.resize.assert_called_once_with(
            self.reportclient, self.context, uuids.instance,
            {'VCPU': 4, 'MEMORY_MB': 2048}, rp_uuid=uuids.node,
            allocs=self.allocations)

    def test_shrink_is_not_claimed(self):
        instance = _instance()
        self._adjust(instance, vcpus=1, memory_mb=1024)
        self.calls.resize.assert_not_called()
        self.calls.action_start.assert_called_once()
        self.calls.cast.assert_called_once_with(
            self.context, instance, 1, 1024, True)

    def test_stopped_with_persist(self):
        instance = _instance(vm_state=vm_states.STOPPED)
        self._adjust(instance, memory_mb=1536)
        self.calls.resize.assert_called_once_with(
            self.reportclient, self.context, uuids.instance,
            {'MEMORY_MB': 1536}, rp_uuid=uuids.node, allocs=self.allocations)
        self.calls.cast.assert_called_once_with(
            self.context, instance, None, 1536, True)

    def test_cast_failure_restores_the_allocation(self):
        instance = _instance()
        self.calls.cast.side_effect = test.TestingException
        self.assertRaises(test.TestingException, self._adjust, instance,
                          vcpus=3, persist=False)
        self.assertEqual([
            mock.call(self.reportclient, self.context, uuids.instance,
                      {'VCPU': 3}, rp_uuid=uuids.node,
                      allocs=self.allocations),
            mock.call(self.reportclient, self.context, uuids.instance,
                      {'VCPU': 2, 'MEMORY_MB': 1024}, rp_uuid=uuids.node),
        ], self.calls.resize.call_args_list)
        self.assertIsNone(instance.task_state)
        # the task is given back only while it is still this adjust's,
        # and before the claim is
        self.assertEqual(
            mock.call(expected_task_state=[inflight.ADJUSTING]),
            self.calls.save.call_args)
        names = [c[0] for c in self.calls.mock_calls
                 if c[0] in ('save', 'resize')]
        # the mark, the claim; then the mark away, then the claim
        self.assertEqual(['save', 'resize', 'save', 'resize'], names)

    def test_rollback_of_an_adjust_no_longer_ours(self):
        # the compute (or a resolver) ended it meanwhile
        instance = _instance()
        self.calls.cast.side_effect = test.TestingException
        self.reread.side_effect = None
        self.reread.return_value = objects.Instance(
            uuid=uuids.instance, task_state=None, system_metadata={})
        self.assertRaises(test.TestingException, self._adjust, instance,
                          vcpus=3)
        self.assertEqual(1, self.calls.resize.call_count)  # the claim only
        self.calls.event_finish.assert_not_called()

    def test_cast_failure_without_growth(self):
        instance = _instance()
        self.calls.cast.side_effect = test.TestingException
        self.assertRaises(test.TestingException, self._adjust, instance,
                          vcpus=1)
        self.calls.resize.assert_not_called()
        self.assertIsNone(instance.task_state)
        self.assertEqual(2, self.calls.save.call_count)

    def test_cast_failure_fails_the_action(self):
        instance = _instance()
        error = test.TestingException()
        self.calls.cast.side_effect = error
        self.assertRaises(test.TestingException, self._adjust, instance,
                          vcpus=3)
        self.calls.event_start.assert_called_once_with(
            self.context, uuids.instance, 'api_xloud_adjust',
            want_result=False)
        self.calls.event_finish.assert_called_once_with(
            self.context, uuids.instance, 'api_xloud_adjust',
            exc_val=error, exc_tb=mock.ANY, want_result=False)
        # with a traceback: Nova records the event as failed only with one
        self.assertIsNotNone(
            self.calls.event_finish.call_args.kwargs['exc_tb'])
        self.assertIsNone(inflight.token(instance))

    def test_message_may_have_left(self):
        # the broker may have taken it (a publish retried in a failover):
        # nothing is undone; the compute or the resolver ends the adjust
        instance = _instance()
        self.calls.cast.side_effect = messaging.MessageDeliveryFailure('x')
        self._adjust(instance, vcpus=3)
        self.assertEqual(1, self.calls.resize.call_count)  # the claim
        self.assertEqual(inflight.ADJUSTING, instance.task_state)
        self.assertIsNotNone(inflight.token(instance))
        self.calls.event_finish.assert_not_called()

    def test_message_certainly_not_sent(self):
        instance = _instance()
        self.calls.cast.side_effect = messaging.InvalidTarget('x', None)
        exc = self.assertRaises(xloud_api.XloudComputeUnreachable,
                                self._adjust, instance, vcpus=3)
        self.assertEqual(503, exc.code)
        # rolled back, and the action finished with a failed event
        self.assertEqual(mock.call(self.reportclient, self.context,
                                   uuids.instance,
                                   {'VCPU': 2, 'MEMORY_MB': 1024},
                                   rp_uuid=uuids.node),
                         self.calls.resize.call_args)
        self.assertIsNone(instance.task_state)
        self.calls.event_finish.assert_called_once()

    def test_claim_placement_error(self):
        instance = _instance()
        self.calls.resize.side_effect = exception.AllocationUpdateFailed(
            consumer_uuid=uuids.instance, error='500')
        exc = self.assertRaises(xloud_api.XloudPlacementUnavailable,
                                self._adjust, instance, vcpus=4)
        self.assertEqual(503, exc.code)
        self.calls.action_start.assert_not_called()
        self.calls.cast.assert_not_called()
        # no action was recorded, so there is none to fail
        self.calls.event_start.assert_not_called()
        self.assertIsNone(instance.task_state)

    def test_host_full(self):
        instance = _instance()
        self.calls.resize.side_effect = placement.XloudHostFull(
            uuid=uuids.instance, resources='VCPU=4')
        self.assertRaises(placement.XloudHostFull, self._adjust, instance,
                          vcpus=4)
        self.calls.resize.assert_called_once()
        self.calls.action_start.assert_not_called()
        self.calls.cast.assert_not_called()
        self.assertIsNone(instance.task_state)
        self.assertEqual(2, self.calls.save.call_count)

    @mock.patch.object(xloud_api.LOG, 'exception')
    def test_failed_restore_still_resets_the_task(self, mock_log):
        instance = _instance()
        self.calls.cast.side_effect = test.TestingException
        self.calls.resize.side_effect = [
            {'VCPU': 2, 'MEMORY_MB': 1024}, placement.XloudHostFull(
                uuid=uuids.instance, resources='')]
        self.assertRaises(test.TestingException, self._adjust, instance,
                          vcpus=3)
        mock_log.assert_called_once()
        self.assertIsNone(instance.task_state)


class ShowTestCase(_Base):

    def test_show(self):
        instance = _instance()
        instance.flavor.extra_specs = {'minimum_cpu': '1'}
        instance.system_metadata = {
            records.SYSMETA_FLAVOR: 'xl',
            records.SYSMETA_VCPUS: '2', records.SYSMETA_MEMORY_MB: '2048',
            records.SYSMETA_LIVE_VCPUS: '3',
            records.SYSMETA_LIVE_MEMORY_MB: '2048'}
        self.calls.current.return_value = (uuids.node, {'VCPU': 3,
                                                        'MEMORY_MB': 2048})
        self.assertEqual({
            'server_id': uuids.instance,
            'phase': None,
            'vcpus': {'minimum': 1, 'maximum': 4, 'current': 3,
                      'next_boot': 2, 'allocated': 3, 'adjustable': True},
            'memory_mb': {'minimum': None, 'maximum': 2048,
                          'current': 2048, 'next_boot': 2048,
                          'allocated': 2048, 'adjustable': False},
        }, self.api.show(self.context, instance))
        self.calls.current.assert_called_once_with(
            self.reportclient, self.context, uuids.instance,
            rp_uuid=uuids.node)

    def test_show_capped(self):
        # a shrink whose unplug did not finish: capped to 1, it has 3
        instance = _instance()
        instance.flavor.extra_specs = {'minimum_cpu': '1'}
        instance.system_metadata = {
            records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '1',
            records.SYSMETA_VCPUS_PLUGGED: '3'}
        self.calls.current.return_value = (uuids.node, {'VCPU': 1,
                                                        'MEMORY_MB': 2048})
        body = self.api.show(self.context, instance)
        self.assertEqual({'minimum': 1, 'maximum': 4, 'current': 1,
                          'next_boot': 1, 'allocated': 1, 'adjustable': True,
                          'plugged': 3}, body['vcpus'])
        self.assertNotIn('plugged', body['memory_mb'])
        # which the response schema allows
        jsonschema.validate({'xloud_adjust': body},
                            adjust_schema.show_response)

    def test_show_without_allocation(self):
        self.calls.current.return_value = (None, {})
        body = self.api.show(self.context, _instance())
        self.assertIsNone(body['vcpus']['allocated'])
        self.assertIsNone(body['memory_mb']['allocated'])
