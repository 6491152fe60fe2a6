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

import importlib.metadata

from nova import test
from nova import version


class XloudVersionTestCase(test.NoDBTestCase):
    """The installed version, local part included, is what we report."""

    def test_version_string_is_installed_version(self):
        installed = importlib.metadata.version('nova')
        self.assertEqual(installed, version.version_string())

    def test_installed_as_xloud_package(self):
        # "make check" installs the tree with PBR_VERSION set to the local
        # version, as "make dist" builds it.
        self.assertIn('+xloud.', importlib.metadata.version('nova'))
