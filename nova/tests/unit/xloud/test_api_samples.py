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

"""The api-ref samples of os-xloud-adjust match the API's schemas."""

import os

from oslo_serialization import jsonutils

import nova
from nova.api.openstack.compute.schemas import xloud_adjust as schema
from nova.api.validation import validators
from nova import test

SAMPLES = os.path.join(os.path.dirname(nova.__file__), os.pardir, 'doc',
                       'api_samples', 'os-xloud-adjust')


class TestApiSamples(test.NoDBTestCase):

    def _sample(self, name):
        with open(os.path.join(SAMPLES, name), encoding='utf-8') as f:
            return jsonutils.loads(f.read())

    def test_request(self):
        validators._SchemaValidator(schema.adjust).validate(
            self._sample('xloud-adjust-req.json'))

    def test_show_response(self):
        validators._SchemaValidator(schema.show_response).validate(
            self._sample('xloud-adjust-show-resp.json'))
