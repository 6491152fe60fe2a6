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

from oslo_serialization import jsonutils
from oslo_utils.fixture import uuidsentinel as uuids

from nova.compute import task_states
from nova import context
from nova.network import model as network_model
from nova.notifications.objects import instance as instance_notification
from nova.notifications.objects import xloud as xloud_notification
from nova import objects
from nova import test
from nova.tests.fixtures import xloud_ceilometer
from nova.tests.unit import fake_instance
from nova.xloud import inflight
from nova.xloud import notify
from nova.xloud import records

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))
SAMPLES = os.path.join(ROOT, 'doc', 'notification_samples')
METERS = os.path.join(ROOT, 'doc', 'source', 'admin',
                      'xloud-ceilometer-meters.yaml')
PHASES = ('start', 'end', 'error')


def _sample(phase):
    name = ('instance-xloud_size.json' if phase == 'size' else
            'instance-xloud_adjust-%s.json' % phase)
    path = os.path.join(SAMPLES, name)
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
        self.get_notifier = self.useFixture(test.fixtures.MockPatch(
            'nova.rpc.get_versioned_notifier',
            return_value=self.notifier)).mock

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
            raise records.XloudAdjustFailed(
                live={'vcpus': 3, 'memory_mb': 512},
                reason='internal error: balloon stuck')
        except records.XloudAdjustFailed as e:
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
        self.assertEqual(['instance-xloud_size.json'],
                         xloud_notification.XloudSizeNotification.samples)

    def test_the_size_sample_is_what_is_sent(self):
        self.flags(host='compute')
        notify.size(self.context, self.instance,
                    {'vcpus': 3, 'memory_mb': 1536, 'vcpus_plugged': 4})
        self.notifier.info.assert_called_once()
        sent = self.notifier.info.call_args.kwargs
        sample = _sample('size')
        self.assertEqual(sample['event_type'], sent['event_type'])
        self.assertEqual(sample['payload'], sent['payload'])
        self.assertEqual(mock.call(sample['publisher_id']),
                         self.get_notifier.call_args)

    def test_no_size_is_sent_unversioned(self):
        self.flags(notification_format='unversioned', group='notifications')
        notify.size(self.context, self.instance,
                    {'vcpus': 3, 'memory_mb': 1536})
        self.notifier.info.assert_not_called()

    @mock.patch.object(notify.LOG, 'exception')
    def test_a_size_that_cannot_be_sent_is_logged(self, mock_log):
        self.notifier.info.side_effect = ValueError('broker gone')
        notify.size(self.context, self.instance,
                    {'vcpus': 3, 'memory_mb': 1536})
        mock_log.assert_called_once()

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
    """The shipped meter definitions, run by Ceilometer's own code."""

    def setUp(self):
        super().setUp()
        self.ceilometer = xloud_ceilometer.Ceilometer(METERS)

    def test_the_size_sample_is_rated(self):
        sample = _sample('size')
        data = sample['payload']['nova_object.data']
        samples = {s.name: s for s in self.ceilometer.samples(sample)}
        self.assertEqual({'xloud.vcpus', 'xloud.memory'}, set(samples))
        for name, unit, volume in (('xloud.vcpus', 'vcpu', data['vcpus']),
                                   ('xloud.memory', 'MB',
                                    data['memory_mb'])):
            rated = samples[name]
            self.assertEqual(('gauge', unit, volume),
                             (rated.type, rated.unit, rated.volume))
            self.assertEqual(data['uuid'], rated.resource_id)
            self.assertEqual(data['tenant_id'], rated.project_id)
            self.assertEqual(data['user_id'], rated.user_id)
            self.assertEqual({'host': data['host'],
                              'flavor_id': data['flavor_id'],
                              'display_name': data['display_name'],
                              'request_id': data['request_id']},
                             rated.resource_metadata)

    def test_the_adjust_notifications_are_not_rated(self):
        # each adjust ends with a size notification, which is rated; its
        # start (a size asked for, not had) must never be
        for phase in PHASES:
            self.assertEqual([], self.ceilometer.samples(_sample(phase)))

    def test_the_last_sample_is_the_size(self):
        first, then = _sample('size'), _sample('size')
        then['payload']['nova_object.data'].update(vcpus=1, memory_mb=512)
        uuid = first['payload']['nova_object.data']['uuid']
        self.assertEqual({'xloud.vcpus': 1, 'xloud.memory': 512},
                         self.ceilometer.rated([first, then], uuid))
