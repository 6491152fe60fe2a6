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

import argparse
from unittest import mock

import fixtures
from osc_lib import exceptions
import testtools

from xloud_osc import plugin
from xloud_osc.v1 import client as xclient


class TestPlugin(testtools.TestCase):
    """The interface OSC's plugins.rst asks of a client module."""

    def test_interface(self):
        self.assertEqual('xloud', plugin.API_NAME)
        self.assertEqual('os_xloud_api_version', plugin.API_VERSION_OPTION)
        self.assertIn(plugin.DEFAULT_API_VERSION, plugin.API_VERSIONS)

    def test_make_client_wraps_the_sdk_compute_proxy(self):
        instance = mock.Mock(_api_version={'xloud': '1'})
        client = plugin.make_client(instance)
        self.assertIsInstance(client, xclient.Client)
        self.assertIs(instance.sdk_connection.compute, client.compute)

    def test_make_client_refuses_unknown_version(self):
        instance = mock.Mock(_api_version={'xloud': '9'})
        self.assertRaises(exceptions.UnsupportedVersion, plugin.make_client,
                          instance)

    def test_option(self):
        self.useFixture(fixtures.EnvironmentVariable('OS_XLOUD_API_VERSION'))
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertIsNone(parser.parse_args([]).os_xloud_api_version)
        self.assertEqual('1', parser.parse_args(
            ['--os-xloud-api-version', '1']).os_xloud_api_version)

    def test_option_from_environment(self):
        self.useFixture(fixtures.EnvironmentVariable('OS_XLOUD_API_VERSION',
                                                     '1'))
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertEqual('1', parser.parse_args([]).os_xloud_api_version)
