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

"""nova-manage xloud audit, one server at a time."""

from unittest import mock

import fixtures
import oslo_messaging as messaging
from oslo_utils.fixture import uuidsentinel as uuids

from nova.cmd import manage
from nova.compute import task_states
from nova import context
from nova import objects
from nova import test
from nova.tests.unit.xloud import fakes
from nova.xloud import audit
from nova.xloud import inflight


def _instance(**updates):
    fields = dict(uuid=uuids.instance, host='compute1', node='node1',
                  task_state=None, flavor=fakes.flavor(),
                  system_metadata=fakes.adjusted_sysmeta())
    fields.update(updates)
    return objects.Instance(**fields)


class AuditTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.lines = []
        self.useFixture(fixtures.MockPatch(
            'nova.scheduler.client.report.report_client_singleton'))
        self.useFixture(fixtures.MockPatch(
            'nova.xloud.placement.provider_of', return_value=uuids.node))
        self.current = self.useFixture(fixtures.MockPatch(
            'nova.xloud.placement.current',
            return_value=(uuids.node, {'VCPU': 2, 'MEMORY_MB': 1024}))).mock
        self.resize = self.useFixture(fixtures.MockPatch(
            'nova.xloud.placement.resize')).mock

    def _audit(self, instance, fix=False):
        check = audit.Audit(fix, self.lines.append)
        check._server(self.context, instance)
        return check

    def test_registered_with_nova_manage(self):
        self.assertIs(audit.XloudCommands, manage.CATEGORIES['xloud'])

    def test_in_step(self):
        check = self._audit(_instance())
        self.assertEqual((1, 0, 0), (check.checked, check.found,
                                     check.unfixed))
        self.assertEqual([], self.lines)

    def test_drift(self):
        self.current.return_value = (uuids.node, {'VCPU': 1,
                                                  'MEMORY_MB': 512})
        check = self._audit(_instance())
        self.assertEqual(1, check.found)
        self.assertIn('allocation VCPU=1 MEMORY_MB=512, but it runs at '
                      'VCPU=2 MEMORY_MB=1024', self.lines[0])
        self.resize.assert_not_called()

    def _fix(self, outcome, up=True):
        self.current.return_value = (uuids.node, {'VCPU': 1,
                                                  'MEMORY_MB': 512})
        instance = _instance()
        with mock.patch('nova.objects.Service.get_by_compute_host'), \
                mock.patch('nova.servicegroup.API.service_is_up',
                           return_value=up), \
                mock.patch('nova.xloud.rpcapi.XloudComputeAPI.xloud_heal',
                           return_value=outcome) as heal:
            check = self._audit(instance, fix=True)
        # the audit never writes an allocation itself
        self.resize.assert_not_called()
        return check, heal, instance

    def test_drift_fixed_by_its_host(self):
        check, heal, instance = self._fix(
            ('healed', {'vcpus': 2, 'memory_mb': 1024}))
        # with the record as the audit read it, to tell a change since
        heal.assert_called_once_with(self.context, instance,
                                     fakes.adjusted_sysmeta())
        self.assertEqual((1, 0), (check.found, check.unfixed))
        self.assertIn('fixed: allocation VCPU=2 MEMORY_MB=1024, as its '
                      'hypervisor has it', self.lines[0])

    def test_drift_skipped_when_it_changed_since_it_was_read(self):
        for outcome, why in ((('changed', None), 'it changed since it '
                              'was read'),
                             (('busy', None), 'it has a task now')):
            self.lines = []
            check, _heal, _instance = self._fix(outcome)
            self.assertEqual((1, 1), (check.found, check.unfixed))
            self.assertIn('skipped: %s; run the audit again' % why,
                          self.lines[0])

    def test_drift_on_a_down_host_is_not_fixed(self):
        check, heal, _instance = self._fix(None, up=False)
        heal.assert_not_called()
        self.assertEqual((1, 1), (check.found, check.unfixed))
        self.assertIn('could not fix: its host is down', self.lines[0])

    def test_plain_flavors_and_servers_without_host_are_skipped(self):
        plain = objects.Flavor(flavorid='p', vcpus=1, memory_mb=512,
                               extra_specs={})
        self._audit(_instance(flavor=plain))
        self._audit(_instance(host=None, node=None))
        self.current.assert_not_called()

    def test_other_tasks_are_skipped(self):
        check = self._audit(_instance(task_state=task_states.MIGRATING))
        self.assertEqual(0, check.checked)
        self.current.assert_not_called()

    def test_an_adjust_on_its_way_is_not_stuck(self):
        instance = _instance(task_state=inflight.ADJUSTING)
        with mock.patch.object(inflight, 'age') as age:
            age.return_value.total_seconds.return_value = 10
            check = self._audit(instance)
        self.assertEqual((1, 0), (check.checked, check.found))

    @mock.patch('nova.servicegroup.API.service_is_up', return_value=True)
    @mock.patch('nova.objects.Service.get_by_compute_host')
    def test_stuck_resolved_by_its_host(self, mock_service, mock_up):
        instance = _instance(task_state=inflight.ADJUSTING)
        with mock.patch.object(inflight, 'age') as age, mock.patch(
                'nova.xloud.rpcapi.XloudComputeAPI.xloud_resolve',
                return_value={'vcpus': 2, 'memory_mb': 1024}) as resolve:
            age.return_value.total_seconds.return_value = 3600
            check = self._audit(instance, fix=True)
        resolve.assert_called_once_with(self.context, instance)
        self.assertEqual((1, 0), (check.found, check.unfixed))
        self.assertIn('resolved by its host at VCPU=2 MEMORY_MB=1024',
                      self.lines[0])

    @mock.patch('nova.servicegroup.API.service_is_up', return_value=True)
    @mock.patch('nova.objects.Service.get_by_compute_host')
    def test_stuck_but_busy_on_its_host(self, mock_service, mock_up):
        # the host's answer when its adjust still runs (a guest agent that
        # does not answer, say), as the RPC client raises it
        busy = messaging.RemoteError(
            'XloudServerBusy', 'Server %s is busy' % uuids.instance, 'tb')
        instance = _instance(task_state=inflight.ADJUSTING)
        with mock.patch.object(inflight, 'age') as age, mock.patch(
                'nova.xloud.rpcapi.XloudComputeAPI.xloud_resolve',
                side_effect=busy):
            age.return_value.total_seconds.return_value = 3600
            check = self._audit(instance, fix=True)
        self.assertEqual((1, 1), (check.found, check.unfixed))
        self.assertIn('skipped: it is busy; run the audit again',
                      self.lines[0])

    def test_exit_codes(self):
        with mock.patch('nova.objects.CellMappingList.get_all',
                        return_value=[]):
            check = audit.Audit(False, self.lines.append)
            self.assertEqual(audit.CLEAN, check.run(self.context))
            check.found = 1
            self.assertEqual(audit.FOUND, check.run(self.context))
            check.unfixed = 1
            self.assertEqual(audit.UNFIXED, check.run(self.context))
