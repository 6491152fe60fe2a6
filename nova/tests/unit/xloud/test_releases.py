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

"""The bridges of nova/xloud/releases.py, with and without the feature."""

from unittest import mock

from oslo_limit import exception as limit_exceptions

from nova.api.openstack.compute.schemas import xloud_adjust as schema
from nova.api import validation
from nova.limit import utils as limit_utils
from nova import test
from nova.xloud import releases


class ReleasesTestCase(test.NoDBTestCase):

    def test_response_body_schema_where_the_release_has_it(self):
        if not hasattr(validation, 'response_body_schema'):
            self.skipTest('this release validates no response')

        def method():
            return 'body'
        # upstream's decorator wraps the method (how it records the schema
        # differs by release), with the controller's real schema
        decorated = releases.response_body_schema(schema.show_response)(
            method)
        self.assertIsNot(method, decorated)
        self.assertEqual('method', decorated.__name__)

    def test_response_body_schema_where_the_release_lacks_it(self):
        def method():
            return 'body'
        with mock.patch.object(validation, 'response_body_schema', None,
                               create=True):
            # getattr finds None: the method comes back as it is
            self.assertIs(method, releases.response_body_schema({})(method))

    def _over(self, limit):
        info = limit_exceptions.OverLimitInfo('class:VCPU', limit, 1, 2)
        return limit_exceptions.ProjectOverLimit('p', [info])

    def test_should_enforce_where_the_release_has_it(self):
        if not hasattr(limit_utils, 'should_enforce'):
            self.skipTest('this release enforces every limit')
        # an explicit limit is enforced, an unlimited one (-1) is not
        self.assertTrue(releases.should_enforce(self._over(2)))
        self.assertFalse(releases.should_enforce(self._over(-1)))

    def test_should_enforce_where_the_release_lacks_it(self):
        with mock.patch.object(limit_utils, 'should_enforce', None,
                               create=True):
            self.assertTrue(releases.should_enforce(self._over(-1)))
            self.assertTrue(releases.should_enforce(self._over(2)))
