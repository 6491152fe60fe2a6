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

"""The minimum_* extra specs through the os-extra_specs REST API."""

from nova.tests.functional.api import client as api_client
from nova.tests.functional import integrated_helpers


class FlavorMinimumExtraSpecsTest(integrated_helpers._IntegratedTestBase):
    # Extra-spec validation is enforced from microversion 2.86 on.
    microversion = '2.86'

    def setUp(self):
        super().setUp()
        self.flavor_id = self._create_flavor(vcpu=4, memory_mb=2048)

    def _assert_400(self, func, *args):
        exc = self.assertRaises(
            api_client.OpenStackApiException, func, self.flavor_id, *args)
        self.assertEqual(400, exc.response.status_code)
        return exc

    def test_create(self):
        body = {'extra_specs': {'minimum_cpu': '2', 'minimum_memory': '1024'}}
        self.admin_api.post_extra_spec(self.flavor_id, body)
        self.assertEqual(body['extra_specs'],
                         self.admin_api.get_extra_specs(self.flavor_id))

    def test_create_invalid(self):
        for spec, value in (('minimum_cpu', 'abc'), ('minimum_cpu', '0'),
                            ('minimum_memory', '-1'),
                            ('minimum_memory', '1.5')):
            exc = self._assert_400(self.admin_api.post_extra_spec,
                                   {'extra_specs': {spec: value}})
            self.assertIn(value, str(exc))
        # nothing was saved
        self.assertEqual({}, self.admin_api.get_extra_specs(self.flavor_id))

    def test_update_invalid(self):
        self.admin_api.put_extra_spec(
            self.flavor_id, 'minimum_cpu', {'minimum_cpu': '2'})
        self._assert_400(self.admin_api.put_extra_spec, 'minimum_cpu',
                         {'minimum_cpu': 'two'})
        self.assertEqual(
            {'minimum_cpu': '2'},
            self.admin_api.get_extra_spec(self.flavor_id, 'minimum_cpu'))
