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

"""Notifications during a live adjust, in every notification format.

Upstream's instance notifications must keep working while an adjust is in
flight (its task state is not in InstancePayload's enum), and the adjust's
own versioned notifications carry the sizes before and after.
"""

from unittest import mock

import ddt

from nova.notifications import base as notifications_base
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_xloud_adjust


@ddt.ddt
class NotificationsTest(test_xloud_adjust.XloudAdjustTestBase):

    def setUp(self):
        super().setUp()
        self.flags(notify_on_state_change='vm_and_task_state',
                   group='notifications')
        self.start_compute('compute1')
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none')
        self.notifier.reset()

    def _versioned(self, event_type):
        return [n['payload'] for n in self.notifier.versioned_notifications
                if n['event_type'] == event_type]

    def _legacy(self, event_type):
        return [n.payload for n in self.notifier.notifications
                if n.event_type == event_type]

    def _adjust_and_watch(self, fmt):
        self.flags(notification_format=fmt, group='notifications')
        with mock.patch.object(notifications_base.LOG,
                               'exception') as failed:
            self._adjust(self.server, current_vcpus=3,
                         current_memory_mb=1536, persist=False)
        # no notification failed
        failed.assert_not_called()

    @ddt.data('versioned', 'both')
    def test_versioned(self, fmt):
        self._adjust_and_watch(fmt)

        # instance.update, while the adjust was in flight and after it
        updates = self._versioned('instance.update')
        states = [(u['nova_object.data']['state_update']['nova_object.data']
                   ['old_task_state'],
                   u['nova_object.data']['state_update']['nova_object.data']
                   ['new_task_state'],
                   u['nova_object.data']['task_state']) for u in updates]
        # during: state_update names the task; InstancePayload.task_state,
        # an enum of upstream's states, reports none
        self.assertIn(('xloud_adjusting', 'xloud_adjusting', None), states)
        # and when it ends
        self.assertIn(('xloud_adjusting', None, None), states)

        [start] = self._versioned('instance.xloud_adjust.start')
        [end] = self._versioned('instance.xloud_adjust.end')
        self.assertEqual([], self._versioned('instance.xloud_adjust.error'))
        for payload, new in ((start, (3, 1536)), (end, (3, 1536))):
            self.assertEqual('XloudAdjustPayload',
                             payload['nova_object.name'])
            data = payload['nova_object.data']
            self.assertEqual(self.server['id'], data['uuid'])
            self.assertEqual((1, 512), (data['old_vcpus'],
                                        data['old_memory_mb']))
            self.assertEqual(new, (data['new_vcpus'], data['new_memory_mb']))
            self.assertFalse(data['persist'])
            self.assertIsNone(data['fault'])

    def test_unversioned(self):
        self._adjust_and_watch('unversioned')
        # upstream's legacy instance.update tells of the adjust; Nova
        # allows no new legacy notifications, so ours are versioned only
        updates = self._legacy('compute.instance.update')
        self.assertIn(('xloud_adjusting', None),
                      [(u['old_task_state'], u['new_task_state'])
                       for u in updates])
        self.assertEqual([], self.notifier.versioned_notifications)

    def test_error(self):
        self.flags(notification_format='versioned', group='notifications')
        error = fakelibvirt.make_libvirtError(
            fakelibvirt.libvirtError, 'balloon stuck',
            error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR)
        with mock.patch.object(fakelibvirt.Domain, 'setMemoryFlags',
                               side_effect=error):
            self._adjust(self.server, current_vcpus=3,
                         current_memory_mb=1536)
        [error] = self._versioned('instance.xloud_adjust.error')
        data = error['nova_object.data']
        # the vCPUs were added, the memory was not: what the guest has
        self.assertEqual((3, 512), (data['new_vcpus'],
                                    data['new_memory_mb']))
        # persist was asked for; what the failure recorded holds for this
        # boot only, and the payload says so
        self.assertFalse(data['persist'])
        # billing rates what the guest has
        [size] = self._versioned('instance.xloud_size')
        self.assertEqual((3, 512), (size['nova_object.data']['vcpus'],
                                    size['nova_object.data']['memory_mb']))
        self.assertIn('balloon stuck', data['fault']['nova_object.data'][
            'exception_message'])
