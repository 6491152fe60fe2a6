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

"""An adjust's growth against the project's quota.

The server's flavor: 1 to 4 vCPUs, 512 to 2048 MiB; it boots at 1 / 512.
"""

from unittest import mock

from oslo_limit import fixture as limit_fixture

from nova.scheduler.client import report
from nova.tests.functional.libvirt import test_xloud_faults
from nova.tests.unit import fake_requests


class _QuotaTest(test_xloud_faults.FaultTestBase):

    def _project(self):
        return self.admin_api.get_server(self.server['id'])['tenant_id']

    def _refused_over(self, resource, **body):
        before = self._state(self.server)
        actions = len(self.admin_api.get_instance_actions(self.server['id']))
        message = self._refused(403, self.server, **body)
        self.assertIn('Quota exceeded for %s' % resource, message)
        self.assertIn('nothing was changed', message)
        self.assertIsNone(self._task_state())
        self.assertEqual(before, self._state(self.server))
        self.assertEqual(actions, len(self.admin_api.get_instance_actions(
            self.server['id'])))


class PlacementCountingTest(_QuotaTest):
    """[quota] count_usage_from_placement: usage is what runs."""

    def setUp(self):
        super().setUp()
        self.flags(count_usage_from_placement=True, group='quota')
        self.admin_api.update_quota({'cores': 2, 'ram': 1024},
                                    project_id=self._project())

    def test_growth_within_the_quota(self):
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        self._assert_settled(2, 1024)

    def test_usage_unreadable(self):
        # placement cannot say what the project uses: 503, nothing changed
        real = report.SchedulerReportClient.get

        def get(client, url, *args, **kwargs):
            if url.startswith('/usages'):
                return fake_requests.FakeResponse(503, content='{}')
            return real(client, url, *args, **kwargs)
        before = self._state(self.server)
        with mock.patch.object(report.SchedulerReportClient, 'get', new=get):
            self.assertIn('placement service is unavailable',
                          self._refused(503, self.server, current_vcpus=2))
        self.assertIsNone(self._task_state())
        self.assertEqual(before, self._state(self.server))

    def test_growth_past_the_quota(self):
        self._refused_over('cores', current_vcpus=3)
        self._refused_over('ram', current_memory_mb=1536)
        self._refused_over('cores, ram', current_vcpus=4,
                           current_memory_mb=2048)

    def test_shrink_is_never_held_back(self):
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        # the quota is lowered under what the server uses
        self.admin_api.update_quota({'cores': 1, 'ram': 512, 'force': True},
                                    project_id=self._project())
        self._adjust(self.server, current_memory_mb=768)
        self._assert_settled(2, 768)
        self._refused_over('ram', current_memory_mb=1024)


class LegacyCountingTest(_QuotaTest):
    """Counted from the database: every server is charged its maximum."""

    def test_growth_within_the_flavor_is_not_charged(self):
        # the flavor's 4 vCPUs / 2048 MiB are charged already
        self.admin_api.update_quota({'cores': 4, 'ram': 2048},
                                    project_id=self._project())
        self._adjust(self.server, current_vcpus=4, current_memory_mb=2048)
        self._assert_settled(4, 2048)


class UnifiedLimitsTest(_QuotaTest):
    """The unified limits driver counts usage from placement."""

    def setUp(self):
        self.useFixture(limit_fixture.LimitFixture(
            {'servers': 10, 'class:VCPU': 2, 'class:MEMORY_MB': 1024,
             'class:DISK_GB': 100}, {}))
        self.flags(driver='nova.quota.UnifiedLimitsDriver', group='quota')
        super().setUp()

    def test_growth_within_the_limits(self):
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        self._assert_settled(2, 1024)

    def test_growth_past_the_limits(self):
        self._refused_over('class:VCPU', current_vcpus=3)
        self._refused_over('class:MEMORY_MB', current_memory_mb=1536)
