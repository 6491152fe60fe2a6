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

"""The adjust notifications, their samples and the Ceilometer meters."""

import os
from unittest import mock

import jsonpath_rw_ext
from oslo_serialization import jsonutils
from oslo_utils.fixture import uuidsentinel as uuids
import yaml

from nova.compute import task_states
from nova import context
from nova.network import model as network_model
from nova.notifications.objects import instance as instance_notification
from nova.notifications.objects import xloud as xloud_notification
from nova import objects
from nova import test
from nova.tests.unit import fake_instance
from nova.xloud import inflight
from nova.xloud import notify
from nova.xloud import sizing

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))
SAMPLES = os.path.join(ROOT, 'doc', 'notification_samples')
METERS = os.path.join(ROOT, 'doc', 'source', 'admin',
                      'xloud-ceilometer-meters.yaml')
PHASES = ('start', 'end', 'error')


def _sample(phase):
    path = os.path.join(SAMPLES, 'instance-xloud_adjust-%s.json' % phase)
    with open(path, 'rb') as f:
        return jsonutils.load(f)


class NotifyTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(notification_format='versioned', group='notifications')
        self.context = context.RequestContext(
            'fake', '6f70656e737461636b20342065766572',
            request_id='req-5b6c791d-5709-4f36-8fbe-c3e02869e35d')
        self.instance = objects.Instance(
            uuid='178b0921-8f85-4257-88b6-2e743b5a975c', user_id='fake',
            project_id='6f70656e737461636b20342065766572',
            display_name='some-server', host='compute', node='fake-mini',
            flavor=objects.Flavor(
                flavorid='a22d5517-147c-4147-a0d1-e698df5cd4e3'))
        self.notifier = mock.Mock()
        self.useFixture(test.fixtures.MockPatch(
            'nova.rpc.get_versioned_notifier',
            return_value=self.notifier))

    def _emitted(self, phase, new, exception=None):
        notify.adjust(self.context, self.instance, 'compute', phase,
                      {'vcpus': 1, 'memory_mb': 512}, new, True,
                      exception=exception)
        method = getattr(self.notifier, 'error' if exception else 'info')
        method.assert_called_once()
        return method.call_args.kwargs

    def test_samples_are_what_is_sent(self):
        error = None
        try:
            raise sizing.XloudAdjustFailed(
                live={'vcpus': 3, 'memory_mb': 512},
                reason='internal error: balloon stuck')
        except sizing.XloudAdjustFailed as e:
            error = e
        for phase, new, exc in (
                ('start', {'vcpus': 3, 'memory_mb': 1536}, None),
                ('end', {'vcpus': 3, 'memory_mb': 1536}, None),
                ('error', {'vcpus': 3, 'memory_mb': 512}, error)):
            self.notifier.reset_mock()
            sent = self._emitted(phase, new, exc)
            sample = _sample(phase)
            self.assertEqual(sample['event_type'], sent['event_type'])
            payload = sent['payload']
            expected = sample['payload']
            for key in ('nova_object.name', 'nova_object.namespace',
                        'nova_object.version'):
                self.assertEqual(expected[key], payload[key])
            data, expected = (payload['nova_object.data'],
                              expected['nova_object.data'])
            self.assertEqual(sorted(expected), sorted(data))
            fault = data.pop('fault')
            expected_fault = expected.pop('fault')
            self.assertEqual(expected, data)
            if exc is None:
                self.assertIsNone(fault)
                continue
            for key in ('exception', 'exception_message'):
                self.assertEqual(expected_fault['nova_object.data'][key],
                                 fault['nova_object.data'][key])

    def test_samples_are_listed_on_the_notification(self):
        self.assertEqual(
            sorted('instance-xloud_adjust-%s.json' % p for p in PHASES),
            sorted(xloud_notification.XloudAdjustNotification.samples))

    def test_nothing_is_sent_unversioned(self):
        self.flags(notification_format='unversioned', group='notifications')
        notify.adjust(self.context, self.instance, 'compute', 'end',
                      {'vcpus': 1, 'memory_mb': 512},
                      {'vcpus': 3, 'memory_mb': 1536}, True)
        self.notifier.info.assert_not_called()

    @mock.patch.object(notify.LOG, 'exception')
    def test_a_failure_to_send_is_logged_not_raised(self, mock_log):
        self.notifier.info.side_effect = ValueError('broker gone')
        notify.adjust(self.context, self.instance, 'compute', 'end',
                      {'vcpus': 1, 'memory_mb': 512},
                      {'vcpus': 3, 'memory_mb': 1536}, True)
        mock_log.assert_called_once()


class InstancePayloadTestCase(test.NoDBTestCase):
    """Upstream's InstancePayload while an adjust is in flight."""

    def _payload(self, task_state):
        ctxt = context.get_admin_context()
        instance = fake_instance.fake_instance_obj(
            ctxt, uuid=uuids.instance, task_state=task_state)
        instance.system_metadata = {}
        instance.metadata = {}
        instance.info_cache = objects.InstanceInfoCache(
            network_info=network_model.NetworkInfo())
        with mock.patch('nova.objects.BlockDeviceMappingList.'
                        'get_by_instance_uuid', return_value=[]):
            return instance_notification.InstancePayload(ctxt, instance)

    def test_adjusting_is_reported_as_no_task(self):
        self.assertIsNone(self._payload(inflight.ADJUSTING).task_state)

    def test_upstream_task_states_are_reported(self):
        self.assertEqual(task_states.REBOOTING,
                         self._payload(task_states.REBOOTING).task_state)


class CeilometerMetersTestCase(test.NoDBTestCase):
    """The shipped meter definitions, read the way Ceilometer reads them."""

    def setUp(self):
        super().setUp()
        with open(METERS) as f:
            self.meters = {m['name']: m for m in yaml.safe_load(f)['metric']}

    def _find(self, expression, notification):
        return [m.value for m in
                jsonpath_rw_ext.parse(expression).find(notification)]

    def test_meters(self):
        self.assertEqual({'xloud.vcpus': ('vcpu', 'new_vcpus'),
                          'xloud.memory': ('MB', 'new_memory_mb')},
                         {name: (m['unit'], m['volume'].rsplit('.', 1)[1])
                          for name, m in self.meters.items()})

    def test_every_path_finds_one_value_in_the_samples(self):
        for name, meter in self.meters.items():
            self.assertEqual('gauge', meter['type'])
            self.assertEqual(['instance.xloud_adjust.end',
                              'instance.xloud_adjust.error'],
                             meter['event_type'])
            for event_type in meter['event_type']:
                sample = _sample(event_type.rsplit('.', 1)[1])
                self.assertEqual(event_type, sample['event_type'])
                data = sample['payload']['nova_object.data']
                paths = dict(meter['metadata'],
                             volume=meter['volume'],
                             user_id=meter['user_id'],
                             project_id=meter['project_id'],
                             resource_id=meter['resource_id'])
                found = {key: self._find(path, sample)
                         for key, path in paths.items()}
                for key, values in found.items():
                    self.assertEqual(1, len(values), (name, key, values))
                self.assertEqual(
                    [data['new_vcpus'] if name == 'xloud.vcpus'
                     else data['new_memory_mb']], found['volume'])
                self.assertEqual([data['uuid']], found['resource_id'])
                self.assertEqual([data['tenant_id']], found['project_id'])
                self.assertEqual([data['user_id']], found['user_id'])
                self.assertEqual([data['host']], found['host'])

    def test_error_sample_reports_what_the_guest_has(self):
        sample = _sample('error')
        [vcpus] = self._find(self.meters['xloud.vcpus']['volume'], sample)
        [memory] = self._find(self.meters['xloud.memory']['volume'],
                              sample)
        self.assertEqual((3, 512), (vcpus, memory))
