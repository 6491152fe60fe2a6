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

"""The client of the xloud RPC namespace."""

from unittest import mock

import fixtures
from oslo_utils.fixture import uuidsentinel as uuids

from nova import context
from nova import exception
from nova.objects import base as objects_base
from nova import rpc
from nova import test
from nova.tests.unit import fake_instance
from nova.xloud import rpcapi


class XloudComputeAPITestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        rpcapi.reset_router()
        self.addCleanup(rpcapi.reset_router)
        self.get_client = self.useFixture(
            fixtures.MockPatch('nova.rpc.get_client')).mock
        self.client = self.get_client.return_value
        self.context = context.RequestContext('fake-user', 'fake-project')
        self.instance = fake_instance.fake_instance_obj(
            self.context, uuid=uuids.instance, host='compute1')
        self.api = rpcapi.XloudComputeAPI()

    def test_adjust_casts_to_the_instance_host(self):
        self.api.xloud_adjust(self.context, self.instance, vcpus=3,
                              memory_mb=None, persist=False)
        self.client.prepare.assert_called_once_with(server='compute1',
                                                    version='1.0')
        self.client.prepare.return_value.cast.assert_called_once_with(
            self.context, 'xloud_adjust', instance=self.instance, vcpus=3,
            memory_mb=None, persist=False)
        self.client.prepare.return_value.call.assert_not_called()

    def test_resolve_calls_the_instance_host(self):
        self.instance.system_metadata = {'xloud_adjust_token': 'req-1'}
        call = self.client.prepare.return_value.call
        call.return_value = {'vcpus': 2, 'memory_mb': 1024}
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         self.api.xloud_resolve(self.context, self.instance))
        # 1.1: a compute that serves only 1.0 refuses it, and says so
        self.client.prepare.assert_called_once_with(server='compute1',
                                                    version='1.1')
        call.assert_called_once_with(self.context, 'xloud_resolve',
                                     instance=self.instance, token='req-1')

    def test_heal_calls_the_instance_host(self):
        call = self.client.prepare.return_value.call
        call.return_value = ['healed', {'vcpus': 2, 'memory_mb': 1024}]
        self.assertEqual(
            ['healed', {'vcpus': 2, 'memory_mb': 1024}],
            self.api.xloud_heal(self.context, self.instance,
                                {'xloud_vcpus': '2'}))
        # 1.2: a compute that serves only 1.1 refuses it, and says so
        self.client.prepare.assert_called_once_with(server='compute1',
                                                    version='1.2')
        call.assert_called_once_with(self.context, 'xloud_heal',
                                     instance=self.instance,
                                     record={'xloud_vcpus': '2'})

    def test_client(self):
        self.api.xloud_adjust(self.context, self.instance, 3, 1024, True)
        self.get_client.assert_called_once_with(
            mock.ANY, version_cap='1.2', serializer=mock.ANY)
        target = self.get_client.call_args.args[0]
        self.assertEqual('xloud', target.namespace)
        self.assertEqual('compute', target.topic)
        self.assertEqual('1.2', target.version)
        self.assertIsInstance(self.get_client.call_args.kwargs['serializer'],
                              objects_base.NovaObjectSerializer)

    def test_router_is_lazy_and_shared(self):
        # constructing the API does not need the RPC transport
        self.get_client.assert_not_called()
        self.assertIsInstance(self.api.router, rpc.ClientRouter)
        self.assertIs(self.api.router, rpcapi.XloudComputeAPI().router)
        self.get_client.assert_called_once()

    @mock.patch('oslo_messaging.get_rpc_client')
    def test_adjust_follows_the_cell(self, mock_get_rpc_client):
        cell_transport = mock.sentinel.cell_transport
        self.context.mq_connection = cell_transport
        self.api.xloud_adjust(self.context, self.instance, 3, 1024, True)
        mock_get_rpc_client.assert_called_once_with(
            cell_transport, self.client.target, version_cap=mock.ANY,
            serializer=mock.ANY, call_monitor_timeout=mock.ANY)
        cell_client = mock_get_rpc_client.return_value
        cell_client.prepare.return_value.cast.assert_called_once()
        self.client.prepare.assert_not_called()

    def test_adjust_without_host(self):
        # a shelved offloaded server has no host to cast to
        self.instance.host = None
        self.assertRaises(exception.NovaException, self.api.xloud_adjust,
                          self.context, self.instance, 3, 1024, True)
        self.client.prepare.assert_not_called()
