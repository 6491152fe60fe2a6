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

"""Resizing a server's VCPU / MEMORY_MB allocation in place."""

import copy
from unittest import mock

import ddt
import fixtures
from oslo_utils.fixture import uuidsentinel as uuids

from nova.compute import vm_states
from nova import context
from nova import exception
from nova import objects
from nova.scheduler.client import report
from nova import test
from nova.xloud import placement
from nova.xloud import records


def _allocations(vcpu=2, memory_mb=1024, generation=1):
    """The server's allocation: the compute node and a bandwidth provider."""
    return {
        'allocations': {
            uuids.bandwidth: {
                'generation': 7,
                'resources': {'NET_BW_EGR_KILOBIT_PER_SEC': 1000},
            },
            uuids.node: {
                'generation': 3,
                'resources': {'VCPU': vcpu, 'MEMORY_MB': memory_mb,
                              'DISK_GB': 10},
            },
        },
        'consumer_generation': generation,
        'project_id': uuids.project,
        'user_id': uuids.user,
    }


def _payload(vcpu, memory_mb, generation=1):
    return {
        'allocations': {
            uuids.bandwidth: {
                'resources': {'NET_BW_EGR_KILOBIT_PER_SEC': 1000}},
            uuids.node: {
                'resources': {'VCPU': vcpu, 'MEMORY_MB': memory_mb,
                              'DISK_GB': 10}},
        },
        'consumer_generation': generation,
        'project_id': uuids.project,
        'user_id': uuids.user,
    }


def _resp(status, code=None, detail='placement said no'):
    resp = mock.Mock(status_code=status, text=detail)
    resp.json.return_value = {'errors': [{'code': code, 'detail': detail}]}
    return resp


OK = _resp(204)
FULL = _resp(409, 'placement.undefined_code',
             'Unable to allocate inventory: Unable to create allocation')
RACE = _resp(409, 'placement.concurrent_update',
             'consumer generation conflict')


class _Base(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.client = mock.Mock(spec=report.SchedulerReportClient)
        self.client.get_allocs_for_consumer.return_value = _allocations()
        self.client.put.return_value = OK


@ddt.ddt
class ResizeTestCase(_Base):

    def _resize(self, amounts):
        return placement.resize(self.client, self.context, uuids.instance,
                                amounts)

    def test_changes_only_vcpu_and_memory_of_the_node(self):
        before = self._resize({'VCPU': 3, 'MEMORY_MB': 2048})
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024}, before)
        self.client.get_allocs_for_consumer.assert_called_once_with(
            self.context, uuids.instance)
        self.client.put.assert_called_once_with(
            '/allocations/%s' % uuids.instance, _payload(3, 2048),
            version='1.28', global_request_id=self.context.global_id)

    def test_allocations_read_by_the_caller(self):
        # the first attempt spares a GET, a retry reads them afresh
        self.client.put.side_effect = [
            RACE, OK]
        self.client.get_allocs_for_consumer.return_value = _allocations(3)
        placement.resize(self.client, self.context, uuids.instance,
                         {'VCPU': 4}, allocs=_allocations())
        self.client.get_allocs_for_consumer.assert_called_once_with(
            self.context, uuids.instance)
        self.assertEqual(2, self.client.put.call_count)

    def test_class_left_out_keeps_its_amount(self):
        self._resize({'VCPU': 1})
        self.assertEqual(_payload(1, 1024),
                         self.client.put.call_args.args[1])

    def test_class_the_server_does_not_hold_is_ignored(self):
        allocs = _allocations()
        del allocs['allocations'][uuids.node]['resources']['MEMORY_MB']
        self.client.get_allocs_for_consumer.return_value = allocs
        before = self._resize({'VCPU': 3, 'MEMORY_MB': 2048})
        self.assertEqual({'VCPU': 2}, before)
        payload = self.client.put.call_args.args[1]
        self.assertEqual({'VCPU': 3, 'DISK_GB': 10},
                         payload['allocations'][uuids.node]['resources'])

    def test_reading_does_not_change_the_allocation(self):
        allocs = _allocations()
        self.client.get_allocs_for_consumer.return_value = allocs
        pristine = copy.deepcopy(allocs)
        self._resize({'VCPU': 4})
        self.assertEqual(pristine, allocs)

    def test_no_put_when_nothing_changes(self):
        before = self._resize({'VCPU': 2, 'MEMORY_MB': 1024})
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024}, before)
        self.client.put.assert_not_called()

    def test_picks_the_given_provider(self):
        # an evacuated server holds VCPU on its old host as well
        allocs = _allocations()
        allocs['allocations'][uuids.old_node] = {
            'generation': 1, 'resources': {'VCPU': 2, 'MEMORY_MB': 1024}}
        self.client.get_allocs_for_consumer.return_value = allocs
        placement.resize(self.client, self.context, uuids.instance,
                         {'VCPU': 3}, rp_uuid=uuids.node)
        payload = self.client.put.call_args.args[1]['allocations']
        self.assertEqual(3, payload[uuids.node]['resources']['VCPU'])
        self.assertEqual(2, payload[uuids.old_node]['resources']['VCPU'])

    def test_server_without_allocation(self):
        self.client.get_allocs_for_consumer.return_value = {
            'allocations': {}}
        self.assertRaises(exception.ConsumerAllocationRetrievalFailed,
                          self._resize, {'VCPU': 3})
        self.client.put.assert_not_called()

    @ddt.data(RACE, _resp(409, 'placement.concurrent_update',
                          'resource provider generation conflict'))
    def test_retries_with_a_fresh_read(self, error):
        self.client.get_allocs_for_consumer.side_effect = [
            _allocations(generation=1),
            # something else changed the allocation meanwhile
            _allocations(memory_mb=512, generation=2)]
        self.client.put.side_effect = [error, OK]

        before = self._resize({'VCPU': 3})

        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 512}, before)
        self.assertEqual(2, self.client.get_allocs_for_consumer.call_count)
        self.assertEqual(_payload(3, 512, generation=2),
                         self.client.put.call_args.args[1])

    def test_gives_up_after_attempts(self):
        self.client.put.return_value = RACE
        exc = self.assertRaises(placement.XloudAllocationConflict,
                                self._resize, {'VCPU': 3})
        self.assertEqual(409, exc.code)
        self.assertIn(uuids.instance, str(exc))
        self.assertEqual(placement.ATTEMPTS,
                         self.client.put.call_count)

    def test_refused_names_the_grown_classes(self):
        self.client.put.return_value = FULL
        exc = self.assertRaises(placement.XloudHostFull, self._resize,
                                {'VCPU': 4, 'MEMORY_MB': 2048})
        self.assertEqual(409, exc.code)
        self.assertIn('lacks the capacity for MEMORY_MB=2048, VCPU=4',
                      str(exc))
        # capacity is not a race: no second try
        self.client.put.assert_called_once()

    def test_refused_names_only_what_grew(self):
        self.client.put.return_value = FULL
        exc = self.assertRaises(placement.XloudHostFull, self._resize,
                                {'VCPU': 4, 'MEMORY_MB': 512})
        self.assertIn('lacks the capacity for VCPU=4.', str(exc))

    def test_other_placement_error_is_not_capacity(self):
        self.client.put.return_value = _resp(400, 'placement.undefined_code',
                                             'JSON does not validate')
        exc = self.assertRaises(exception.AllocationUpdateFailed,
                                self._resize, {'VCPU': 3})
        self.assertIn('JSON does not validate', str(exc))
        self.client.put.assert_called_once()

    def test_refused_shrink(self):
        self.client.put.return_value = FULL
        exc = self.assertRaises(placement.XloudHostFull, self._resize,
                                {'VCPU': 1})
        self.assertIn('lacks the capacity for this size', str(exc))


class CurrentTestCase(_Base):

    def test_current(self):
        self.assertEqual(
            (uuids.node, {'VCPU': 2, 'MEMORY_MB': 1024}),
            placement.current(self.client, self.context, uuids.instance))

    def test_no_allocation(self):
        self.client.get_allocs_for_consumer.return_value = {
            'allocations': {}}
        self.assertEqual(
            (None, {}),
            placement.current(self.client, self.context, uuids.instance))


class HostCanAdjustTestCase(_Base):

    def _traits(self, *traits):
        self.client.get_provider_traits.return_value = report.TraitInfo(
            traits=set(traits), generation=1)

    def test_with_trait(self):
        self._traits('COMPUTE_STATUS_DISABLED', placement.TRAIT)
        # the allocations it read, for the caller to reuse
        self.assertEqual(_allocations(), placement.host_can_adjust(
            self.client, self.context, uuids.instance))
        self.client.get_provider_traits.assert_called_once_with(
            self.context, uuids.node)

    def test_without_trait(self):
        self._traits('COMPUTE_STATUS_DISABLED')
        self.assertFalse(placement.host_can_adjust(
            self.client, self.context, uuids.instance))

    def test_without_allocation(self):
        self.client.get_allocs_for_consumer.return_value = {
            'allocations': {}}
        self.assertFalse(placement.host_can_adjust(
            self.client, self.context, uuids.instance))
        self.client.get_provider_traits.assert_not_called()


class FollowGuestTestCase(_Base):

    def setUp(self):
        super().setUp()
        self.get_node = self.useFixture(fixtures.MockPatch(
            'nova.objects.ComputeNode.get_by_host_and_nodename',
            return_value=objects.ComputeNode(uuid=uuids.node))).mock
        # what follow_guest records is saved
        self.save = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.save')).mock
        # the server as the database has it when the allocation is written
        self.in_db = objects.Instance(uuid=uuids.instance, task_state=None)
        self.get_by_uuid = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.get_by_uuid',
            return_value=self.in_db)).mock
        self.notify_size = self.useFixture(fixtures.MockPatch(
            'nova.xloud.notify.size', autospec=True)).mock

    def _instance(self, system_metadata=None, **extra_specs):
        flavor = objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                extra_specs=extra_specs)
        instance = objects.Instance(uuid=uuids.instance, flavor=flavor,
                                    host='compute1', node='node1',
                                    task_state=None,
                                    system_metadata=system_metadata or {})
        instance.obj_reset_changes()  # as loaded from the database
        return instance

    def test_saves_a_noted_boot(self):
        instance = self._instance(
            {records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '3'},
            minimum_cpu='1')
        records.note_boot(instance)  # what the driver does on a reboot
        placement.follow_guest(self.client, self.context, instance)
        self.save.assert_called_once_with(expected_task_state=[None])
        self.assertEqual('1', instance.system_metadata[
            records.SYSMETA_LIVE_VCPUS])
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 2048},
                         {rc: n for rc, n in self.client.put.call_args.args[
                             1]['allocations'][uuids.node][
                             'resources'].items()
                          if rc in ('VCPU', 'MEMORY_MB')})
        # and billing is told the size the guest booted at
        self.notify_size.assert_called_once_with(
            self.context, instance, {'vcpus': 1, 'memory_mb': 2048})

    def _follow_a_reboot(self):
        instance = self._instance(
            {records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '3'},
            minimum_cpu='1')
        records.note_boot(instance)  # the guest was rebooted at 1 vCPU
        placement.follow_guest(self.client, self.context, instance)
        return instance

    def test_an_adjust_begun_before_the_record_is_saved(self):
        # the API's adjust saved its task state and token first: the
        # record is not saved over them, the allocation not written
        self.save.side_effect = exception.UnexpectedTaskStateError(
            instance_uuid=uuids.instance, expected=[None],
            actual='xloud_adjusting')
        self._follow_a_reboot()
        self.client.put.assert_not_called()
        # the adjust tells its own size
        self.notify_size.assert_not_called()

    def test_an_adjust_begun_before_the_allocation_is_written(self):
        # its growth claim is not written over
        self.in_db.task_state = 'xloud_adjusting'
        self._follow_a_reboot()
        self.client.put.assert_not_called()
        self.notify_size.assert_not_called()

    def test_an_adjust_claim_between_read_and_write(self):
        # The adjust began after the check and claimed before the write:
        # the consumer generation makes the write fail; read again, the
        # task state says to leave it.
        states = iter([None, 'xloud_adjusting'])

        def read(*args, **kwargs):
            self.in_db.task_state = next(states)
            return self.in_db
        self.get_by_uuid.side_effect = read
        self.client.put.return_value = RACE
        self._follow_a_reboot()
        self.assertEqual(1, self.client.put.call_count)
        self.assertEqual(2, self.client.get_allocs_for_consumer.call_count)

    def test_flavor_without_minimums(self):
        placement.follow_guest(self.client, self.context, self._instance())
        self.client.get_allocs_for_consumer.assert_not_called()
        self.client.put.assert_not_called()

    def test_instance_without_flavor(self):
        instance = objects.Instance(uuid=uuids.instance)
        placement.follow_guest(self.client, self.context, instance)
        self.client.get_allocs_for_consumer.assert_not_called()

    def test_follows_the_minimum_it_was_built_at(self):
        instance = self._instance(minimum_cpu='1', minimum_memory='512')
        instance.vm_state = vm_states.BUILDING
        records.note_boot(instance)  # what the driver does when it spawns
        instance.vm_state = vm_states.ACTIVE
        placement.follow_guest(self.client, self.context, instance)
        self.get_node.assert_called_once_with(self.context, 'compute1',
                                              'node1')
        self.client.put.assert_called_once()
        self.assertEqual(_payload(1, 512), self.client.put.call_args.args[1])

    def test_without_a_record_never_shrinks_to_the_minimum(self):
        # built before XLoud was installed: at its flavor's maximum
        instance = self._instance(minimum_cpu='1', minimum_memory='512')
        placement.follow_guest(self.client, self.context, instance)
        self.assertEqual(_payload(4, 2048), self.client.put.call_args.args[1])
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.next_boot(instance))

    def test_follows_the_recorded_size(self):
        instance = self._instance(
            {records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '3',
             records.SYSMETA_LIVE_MEMORY_MB: '1536'},
            minimum_cpu='1', minimum_memory='512')
        placement.follow_guest(self.client, self.context, instance)
        self.client.put.assert_called_once()
        self.assertEqual(_payload(3, 1536), self.client.put.call_args.args[1])

    def test_follows_what_the_hypervisor_says(self):
        # a soft reboot or an unrescue starts the guest from its definition,
        # which the record may not know: the driver is asked
        instance = self._instance(
            {records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '3',
             records.SYSMETA_VCPUS: '2'},
            minimum_cpu='1', minimum_memory='512')
        driver = mock.Mock()
        driver.xloud_sizes.return_value = {'vcpus': 2, 'memory_mb': 768}
        placement.follow_guest(self.client, self.context, instance, driver)
        driver.xloud_sizes.assert_called_once_with(instance)
        self.assertEqual(_payload(2, 768), self.client.put.call_args.args[1])
        # recorded as what the guest runs at; the next boot is unchanged
        self.assertEqual({'vcpus': 2, 'memory_mb': 768},
                         records.live(instance))
        self.assertEqual(2, records.next_boot(instance)['vcpus'])
        self.save.assert_called_once_with(expected_task_state=[None])

    def test_driver_without_support_follows_the_record(self):
        instance = self._instance(
            {records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '3'},
            minimum_cpu='1', minimum_memory='512')
        driver = mock.Mock()
        driver.xloud_sizes.side_effect = NotImplementedError
        placement.follow_guest(self.client, self.context, instance, driver)
        self.assertEqual(_payload(3, 512), self.client.put.call_args.args[1])

    @mock.patch('nova.compute.utils.add_instance_fault_from_exc')
    @mock.patch.object(placement.LOG, 'exception')
    def test_errors_are_logged_not_raised(self, mock_log, mock_fault):
        self.client.put.return_value = FULL
        instance = self._instance(minimum_cpu='3')
        placement.follow_guest(self.client, self.context, instance)
        mock_log.assert_called_once()
        # never silent: the server gets a fault an admin can see
        mock_fault.assert_called_once_with(
            self.context, instance, mock.ANY, mock.ANY)
        self.assertIsInstance(mock_fault.call_args.args[2],
                              placement.XloudHostFull)


class HealResourcesTestCase(test.NoDBTestCase):

    def _instance(self, system_metadata, **extra_specs):
        flavor = objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                extra_specs=extra_specs)
        return objects.Instance(uuid=uuids.instance, flavor=flavor,
                                system_metadata=system_metadata)

    def test_heals_at_the_live_size(self):
        instance = self._instance(
            {records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '3'},
            minimum_cpu='1', minimum_memory='512')
        resources = {'VCPU': 1, 'MEMORY_MB': 512, 'DISK_GB': 1}
        placement.heal_resources(instance, resources)
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 512, 'DISK_GB': 1},
                         resources)

    def test_plain_flavor_is_left_alone(self):
        resources = {'VCPU': 4, 'MEMORY_MB': 2048}
        placement.heal_resources(self._instance({}), resources)
        self.assertEqual({'VCPU': 4, 'MEMORY_MB': 2048}, resources)

    @mock.patch.object(placement.LOG, 'exception')
    def test_never_fails_heal_allocations(self, mock_log):
        instance = objects.Instance(
            uuid=uuids.instance,
            flavor=objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                  extra_specs={'minimum_cpu': '1'}))
        resources = {'VCPU': 1, 'MEMORY_MB': 2048}
        # no system_metadata, and nothing to load it from
        placement.heal_resources(instance, resources)
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 2048}, resources)
        mock_log.assert_called_once()
