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

"""``nova-manage xloud audit`` and ``placement heal_allocations`` on
adjusted servers."""

import io
from unittest import mock

import ddt

from nova.cmd import manage
from nova import objects
from nova.tests.functional.libvirt import test_xloud_faults
from nova.xloud import inflight
from nova.xloud import records
from nova.xloud import sizing


def _audit(fix=False):
    """nova-manage xloud audit [--fix]: (exit code, what it printed)."""
    out = io.StringIO()
    with mock.patch('sys.stdout', new=out):
        code = manage.CATEGORIES['xloud']().audit(fix=fix)
    return code, out.getvalue()


@ddt.ddt
class AuditTest(test_xloud_faults.FaultTestBase):

    def setUp(self):
        super().setUp()
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536)

    def _audit(self, fix=False):
        return _audit(fix)

    def _set_allocation(self, vcpus, memory_mb):
        rp = self._get_provider_uuid_by_host('compute1')
        allocations = self.placement.get(
            '/allocations/%s' % self.server['id'], version='1.28').body
        allocations['allocations'][rp]['resources'].update(
            VCPU=vcpus, MEMORY_MB=memory_mb)
        self.placement.put('/allocations/%s' % self.server['id'],
                           allocations, version='1.28')

    def test_clean(self):
        code, out = self._audit()
        self.assertEqual(0, code, out)
        self.assertIn('1 adjustable servers checked, 0 found', out)

    def test_drift_found_and_fixed(self):
        self._set_allocation(1, 512)
        code, out = self._audit()
        self.assertEqual(1, code)
        self.assertIn('drift: server %s on compute1: allocation VCPU=1 '
                      'MEMORY_MB=512, but it runs at VCPU=3 MEMORY_MB=1536'
                      % self.server['id'], out)
        # without --fix nothing changes
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 512},
                         self._allocation(self.server))

        code, out = self._audit(fix=True)
        self.assertEqual(1, code)
        self.assertIn('; fixed: allocation VCPU=3 MEMORY_MB=1536', out)
        self._assert_settled(3, 1536)
        self.assertEqual(0, self._audit()[0])

    def test_drift_that_cannot_be_fixed(self):
        self._set_allocation(1, 512)
        with mock.patch('nova.xloud.placement.resize',
                        side_effect=ValueError('placement says no')):
            code, out = self._audit(fix=True)
        self.assertEqual(2, code)
        self.assertIn('could not fix: placement says no', out)

    def test_fix_never_acts_on_a_stale_read(self):
        # The audit reads its batch of servers; an adjust finishes before
        # it gets to this one, whose allocation then differs from what it
        # read. The adjust's size must stay.
        read = objects.InstanceList.get_by_filters(
            self.ctxt, {'deleted': False},
            expected_attrs=['flavor', 'system_metadata'])
        self._adjust(self.server, current_vcpus=4, current_memory_mb=2048)
        with mock.patch('nova.objects.InstanceList.get_by_filters',
                        side_effect=[read, []]):
            code, out = self._audit(fix=True)
        self.assertEqual(2, code, out)
        self.assertIn('skipped: it changed since it was read', out)
        self._assert_settled(4, 2048)
        self.assertEqual(0, self._audit()[0])

    def test_fix_writes_what_the_hypervisor_confirms(self):
        # a record that says less than the guest has (3 / 1536): the
        # allocation is not shrunk under the guest, the record is mended
        instance = self._instance()
        instance.system_metadata.update(xloud_live_vcpus='2',
                                        xloud_live_memory_mb='1024')
        instance.save()
        code, out = self._audit()
        self.assertEqual(1, code, out)
        code, out = self._audit(fix=True)
        self.assertEqual(1, code, out)
        self.assertIn('fixed: allocation VCPU=3 MEMORY_MB=1536, as its '
                      'hypervisor has it', out)
        self._assert_settled(3, 1536)
        self.assertEqual(0, self._audit()[0])

    def _stuck(self):
        self._post_lost(current_vcpus=4)
        instance = self._instance()
        instance.system_metadata[inflight.SYSMETA_SINCE] = (
            '2026-01-01T00:00:00')
        instance.save()

    def test_stuck_adjust_found_and_resolved_by_its_host(self):
        self._stuck()
        code, out = self._audit()
        self.assertEqual(1, code)
        self.assertIn('stuck: server %s on compute1: an adjust has been in '
                      'flight for' % self.server['id'], out)
        self.assertEqual(inflight.ADJUSTING, self._task_state())

        code, out = self._audit(fix=True)
        self.assertEqual(1, code, out)
        self.assertIn('resolved by its host at VCPU=3 MEMORY_MB=1536', out)
        self._assert_settled(3, 1536)
        self._assert_interrupted()
        self.assertEqual(0, self._audit()[0])

    def test_stuck_adjust_on_a_down_host(self):
        self._stuck()
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='compute1')
        self.admin_api.put_service_force_down(service['id'], True)
        code, out = self._audit(fix=True)
        self.assertEqual(2, code)
        self.assertIn('its nova-compute resolves the adjust when it starts',
                      out)
        self.assertEqual(inflight.ADJUSTING, self._task_state())

    @ddt.data((False, True), (True, True), (False, False), (True, False))
    @ddt.unpack
    def test_heal_allocations(self, force, persist):
        expected = (3, 1536)
        if not persist:
            # runs at 2 / 1024, next boot 3 / 1536
            self._adjust(self.server, current_vcpus=2,
                         current_memory_mb=1024, persist=False)
            expected = (2, 1024)
        if not force:
            self._delete_server_allocations(self.server['id'])
        with mock.patch('sys.stdout', new=io.StringIO()):
            code = manage.PlacementCommands().heal_allocations(
                verbose=True, instance_uuid=self.server['id'], force=force)
        self.assertEqual(0, code)
        self._assert_settled(*expected)


class NoRecordTest(test_xloud_faults.FaultTestBase):
    """A server built before XLoud was installed on its host.

    An upstream compute booted it at its flavor's maximum and placement
    allocated that; XLoud has no record of it. It must go on running at
    what it was booted at, never be taken to run at its minimum.
    """

    BOOTED = {'VCPU': 4, 'MEMORY_MB': 2048}  # the flavor it was booted with

    def setUp(self):
        super().setUp()
        flavor = self._flavor(vcpus=4, memory_mb=2048)  # no minimums yet
        self.server = self._create_server(flavor_id=flavor,
                                          networks='none')
        # The minimums were set while nothing used them (upstream ignores
        # them), so they are in the server's copy of the flavor as well.
        instance = self._instance()
        self.assertFalse(records.has_record(instance))
        instance.flavor.extra_specs = {'minimum_cpu': '1',
                                       'minimum_memory': '512'}
        instance.save()
        self.assertTrue(sizing.has_minimum(self._instance().flavor))

    def _next_boot(self):
        view = self._get(self.server)
        return {'VCPU': view['vcpus']['next_boot'],
                'MEMORY_MB': view['memory_mb']['next_boot']}

    def test_runs_at_what_it_was_booted_at(self):
        self._assert_settled(*self.BOOTED.values())
        self.assertEqual(self.BOOTED, self._next_boot())
        code, out = _audit(fix=True)
        self.assertEqual(0, code, out)
        self._assert_settled(*self.BOOTED.values())
        # heal_allocations --force rebuilds it from the flavor's minimum
        # unless told otherwise
        with mock.patch('sys.stdout', new=io.StringIO()):
            self.assertEqual(0, manage.PlacementCommands().heal_allocations(
                verbose=True, instance_uuid=self.server['id'], force=True))
        self._assert_settled(*self.BOOTED.values())
        # and its next boot does not shrink it behind its owner's back
        self._reboot_server(self.server, hard=True)
        self._assert_settled(*self.BOOTED.values())
        self.assertEqual(self.BOOTED, self._next_boot())

    def test_its_compute_records_it_when_it_starts(self):
        self.restart_compute_service('compute1')
        instance = self._instance()
        self.assertTrue(records.has_record(instance))
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.next_boot(instance))
        self._assert_settled(*self.BOOTED.values())

    def test_adjusted_from_there(self):
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        self._assert_settled(2, 1024)
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024}, self._next_boot())
