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

"""POST /os-xloud-adjust/{server_id}: live adjust, end to end.

REST API -> XLoud compute API -> placement -> xloud RPC namespace ->
nova-compute -> libvirt driver -> fake libvirt, asserting on the domain
XML, the placement allocation, the GET view and the instance actions.
"""

import time
from unittest import mock

from nova import objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import test_xloud_minimum
from nova.xloud import rpcapi as xloud_rpcapi


class XloudAdjustTestBase(test_xloud_minimum.XloudMinimumTestBase):
    # Casts stay casts: the API answers before the compute has acted.
    CAST_AS_CALL = False

    def setUp(self):
        super().setUp()
        self.addCleanup(xloud_rpcapi.reset_router)
        self.flavor = self._flavor(minimum_cpu='1', minimum_memory='512')

    def _url(self, server):
        return '/os-xloud-adjust/%s' % server['id']

    def _get(self, server):
        return self.admin_api.api_get(self._url(server)).body['xloud_adjust']

    def _post(self, server, api=None, **body):
        return (api or self.admin_api).api_post(self._url(server), body)

    def _adjust(self, server, **body):
        resp = self._post(server, **body)
        self.assertEqual(202, resp.status)
        self.assertEqual('', resp.content.decode())
        return self._wait_for_adjust(server)

    def _wait_for_adjust(self, server):
        for _ in range(100):
            server = self.admin_api.get_server(server['id'])
            if server['OS-EXT-STS:task_state'] is None:
                return server
            time.sleep(0.05)
        self.fail('the adjust never finished')

    def _refused(self, code, server, api=None, **body):
        exc = self.assertRaises(client.OpenStackApiException, self._post,
                                server, api=api, **body)
        self.assertEqual(code, exc.response.status_code, exc.response.text)
        return exc.response.text

    def _state(self, server, host='compute1'):
        """XML sizes, allocation and GET view together."""
        return (self._sizes(server, host), self._allocation(server),
                self._get(server))


class AdjustTest(XloudAdjustTestBase):

    def setUp(self):
        super().setUp()
        self.start_compute('compute1')
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none')

    def test_grow_then_shrink(self):
        self.assertEqual((4, 1, 2048 * 1024, 512 * 1024),
                         self._sizes(self.server))
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536)
        sizes, alloc, view = self._state(self.server)
        self.assertEqual((4, 3, 2048 * 1024, 1536 * 1024), sizes)
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536}, alloc)
        self.assertEqual(
            {'minimum': 1, 'maximum': 4, 'current': 3, 'next_boot': 3,
             'allocated': 3, 'adjustable': True}, view['vcpus'])
        self.assertEqual(
            {'minimum': 512, 'maximum': 2048, 'current': 1536,
             'next_boot': 1536, 'allocated': 1536, 'adjustable': True},
            view['memory_mb'])
        self._wait_for_instance_action_event(
            self.server, 'xloud-adjust', 'compute_xloud_adjust', 'success')

        self._adjust(self.server, current_memory_mb=1024)
        sizes, alloc, view = self._state(self.server)
        self.assertEqual((4, 3, 2048 * 1024, 1024 * 1024), sizes)
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1024}, alloc)
        self.assertEqual(1024, view['memory_mb']['current'])
        actions = self.admin_api.get_instance_actions(self.server['id'])
        self.assertEqual(2, [a['action'] for a in actions].count(
            'xloud-adjust'))

    def test_not_persisted(self):
        self._adjust(self.server, current_vcpus=2, persist=False)
        view = self._get(self.server)['vcpus']
        self.assertEqual((2, 1, 2), (view['current'], view['next_boot'],
                                     view['allocated']))
        self.assertEqual((4, 2), self._sizes(self.server)[:2])

    def test_not_persisted_is_gone_after_hard_reboot(self):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536,
                     persist=False)
        self._reboot_server(self.server, hard=True)
        sizes, alloc, view = self._state(self.server)
        self.assertEqual((4, 1, 2048 * 1024, 512 * 1024), sizes)
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 512}, alloc)
        self.assertEqual((1, 1), (view['vcpus']['current'],
                                  view['vcpus']['next_boot']))

    def test_host_restart(self):
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536,
                     persist=False)
        # the host goes down with its guests, and nova-compute comes back
        self._domain(self.server).destroy()
        self.flags(resume_guests_state_on_host_boot=True)
        self.restart_compute_service('compute1')
        sizes, alloc, view = self._state(self.server)
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024), sizes)
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024}, alloc)
        self.assertEqual((2, 2, 2), (view['vcpus']['current'],
                                     view['vcpus']['next_boot'],
                                     view['vcpus']['allocated']))

    def test_malformed_bodies(self):
        before = self._state(self.server)
        bodies = [
            {}, {'persist': True},
            {'current_vcpus': True}, {'current_vcpus': False},
            {'current_vcpus': 2.0}, {'current_vcpus': 2.5},
            {'current_vcpus': '2'}, {'current_vcpus': '2.5'},
            {'current_memory_mb': '1024'}, {'current_memory_mb': 1024.5},
            {'current_vcpus': 0}, {'current_vcpus': -1},
            {'current_memory_mb': 0}, {'current_memory_mb': -512},
            {'current_vcpus': 2 ** 63}, {'current_memory_mb': 10 ** 30},
            {'current_vcpus': None}, {'current_vcpus': [2]},
            {'current_vcpus': {'n': 2}}, {'current_vcpus': 2, 'foo': 1},
            {'current_vcpus': 2, 'persist': 'false'},
            {'current_vcpus': 2, 'persist': 0},
            {'current_vcpus': 2, 'persist': None},
            {'current_cpus': 2},
            # inside the schema, outside the envelope
            {'current_vcpus': 5}, {'current_memory_mb': 256},
            {'current_memory_mb': 4096},
        ]
        for body in bodies:
            self._refused(400, self.server, **body)
        self._refused(400, self.server)  # no body at all
        exc = self.assertRaises(
            client.OpenStackApiException, self.admin_api.api_post,
            self._url(self.server), [])
        self.assertEqual(400, exc.response.status_code)
        self.assertIn('outside the allowed range 1-4',
                      self._refused(400, self.server, current_vcpus=5))
        self.assertEqual(before, self._state(self.server))
        self.assertEqual([], [a for a in self.admin_api.get_instance_actions(
            self.server['id']) if a['action'] == 'xloud-adjust'])

    def test_flavor_without_minimum_cannot_be_adjusted(self):
        flavor = self._flavor(minimum_cpu='2')
        server = self._create_server(flavor_id=flavor, networks='none')
        self.assertIn('declares no minimum_memory', self._refused(
            400, server, current_memory_mb=1024))
        self.assertFalse(self._get(server)['memory_mb']['adjustable'])

    def test_policy_and_not_found(self):
        self.assertIn('xloud:adjust', self._refused(
            403, self.server, api=self.api_fixture.api, current_vcpus=2))
        exc = self.assertRaises(
            client.OpenStackApiException, self.api_fixture.api.api_get,
            self._url(self.server))
        self.assertEqual(403, exc.response.status_code)
        self._refused(404, {'id': 'c4e9e4e0-4e8f-4f4a-8f7b-6a9c5a5f0d1e'},
                      current_vcpus=2)

    def test_conflicts(self):
        self.admin_api.post_server_action(self.server['id'], {'lock': None})
        self.assertIn('locked', self._refused(409, self.server,
                                              current_vcpus=2))
        self.admin_api.post_server_action(self.server['id'],
                                          {'unlock': None})
        server = self._stop_server(self.server)
        self._refused(409, server, current_vcpus=2, persist=False)
        server = self._start_server(server)
        self.admin_api.post_server_action(server['id'], {'pause': None})
        server = self._wait_for_state_change(server, 'PAUSED')
        self._refused(409, server, current_vcpus=2)

    def test_concurrent_adjusts(self):
        # the first adjust is still in flight when the second comes
        with mock.patch.object(xloud_rpcapi.XloudComputeAPI,
                               'xloud_adjust') as cast:
            self.assertEqual(202, self._post(self.server,
                                             current_vcpus=2).status)
            self._refused(409, self.server, current_vcpus=3)
        cast.assert_called_once()
        self.assertEqual('xloud_adjusting', self.admin_api.get_server(
            self.server['id'])['OS-EXT-STS:task_state'])

    def test_stopped_server_persists_for_next_start(self):
        server = self._stop_server(self.server)
        self._adjust(server, current_vcpus=2, current_memory_mb=1024)
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._allocation(server))
        server = self._start_server(server)
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(server))

    def test_persisted_survives_hard_reboot_and_stop_start(self):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536)
        expected = (4, 3, 2048 * 1024, 1536 * 1024)
        self._reboot_server(self.server, hard=True)
        self.assertEqual(expected, self._sizes(self.server))
        server = self._stop_server(self.server)
        server = self._start_server(server)
        self.assertEqual(expected, self._sizes(server))
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(server))

    def test_hypervisor_error_rolls_back(self):
        before = self._state(self.server)
        error = fakelibvirt.make_libvirtError(
            fakelibvirt.libvirtError, 'vcpu hotplug failed',
            error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR)
        with mock.patch.object(fakelibvirt.Domain, 'setVcpusFlags',
                               side_effect=error):
            resp = self._post(self.server, current_vcpus=3,
                              current_memory_mb=1024)
            self.assertEqual(202, resp.status)
            server = self._wait_for_adjust(self.server)
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual(before, self._state(self.server))
        self._wait_for_instance_action_event(
            self.server, 'xloud-adjust', 'compute_xloud_adjust', 'Error')
        fault = objects.InstanceFault.get_latest_for_instance(
            self.ctxt, self.server['id'])
        self.assertIn('vcpu hotplug failed', fault.message)
        self.assertIn('It now runs with 1 vCPUs and 512 MiB', fault.message)


class HostTest(XloudAdjustTestBase):

    def setUp(self):
        super().setUp()
        self.flags(cpu_allocation_ratio=1.0)
        self.flags(cores=100, group='quota')
        self.start_compute('compute1')

    def test_full_host(self):
        server = self._create_server(flavor_id=self.flavor, networks='none')
        rp = self._get_provider_uuid_by_host('compute1')
        vcpu = self._get_provider_inventory(rp)['VCPU']
        filler = self._flavor(vcpus=vcpu['total'] - 1, memory_mb=512)
        self._create_server(flavor_id=filler, networks='none')
        before = self._state(server)
        self.assertIn('lacks the capacity for VCPU=2',
                      self._refused(409, server, current_vcpus=2))
        self.assertEqual(before, self._state(server))
        self.assertIsNone(self.admin_api.get_server(server['id'])[
            'OS-EXT-STS:task_state'])

    def test_host_cannot_adjust(self):
        server = self._create_server(flavor_id=self.flavor, networks='none')
        rp = self._get_provider_uuid_by_host('compute1')
        traits = self.placement.get(
            '/resource_providers/%s/traits' % rp, version='1.6').body
        self.placement.put(
            '/resource_providers/%s/traits' % rp,
            {'traits': [t for t in traits['traits']
                        if t != 'CUSTOM_XLOUD_ADJUST'],
             'resource_provider_generation':
                traits['resource_provider_generation']}, version='1.6')
        self.assertIn('cannot adjust servers live',
                      self._refused(409, server, current_vcpus=2))


class LiveMigrationTest(test_xloud_minimum.TwoHostsMixin,
                        XloudAdjustTestBase):

    def test_live_values_survive_live_migration(self):
        self.server = self._create_server(flavor_id=self.flavor, host='src',
                                          networks='none')
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536,
                     persist=False)
        self._live_migrate(self.server, 'completed')
        self.assertEqual((4, 3, 2048 * 1024, 1536 * 1024),
                         self._sizes(self.server, 'dest'))
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(self.server))


class MovesTest(test_xloud_minimum.TwoHostsMixin, XloudAdjustTestBase):
    """An adjusted server keeps its persisted size, and placement follows."""

    def setUp(self):
        super().setUp()
        self.server = self._create_server(flavor_id=self.flavor, host='src',
                                          networks='none')
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536)
        self.expected = (4, 3, 2048 * 1024, 1536 * 1024)

    def _node_allocation(self, host):
        allocations = self._get_allocations_by_server_uuid(self.server['id'])
        rp = self._get_provider_uuid_by_host(host)
        return {rc: n for rc, n in allocations[rp]['resources'].items()
                if rc in ('VCPU', 'MEMORY_MB')}

    def test_cold_migration(self):
        with mock.patch('nova.virt.libvirt.driver.LibvirtDriver'
                        '.migrate_disk_and_power_off', return_value='{}'):
            self._migrate_server(self.server)
        # the allocation follows while the resize waits for confirmation
        self.assertEqual(self.expected, self._sizes(self.server, 'dest'))
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._node_allocation('dest'))
        self._confirm_resize(self.server)
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(self.server))

    def test_unshelve(self):
        server = self._shelve_server(self.server)
        self._unshelve_server(server)
        host = self.admin_api.get_server(server['id'])[
            'OS-EXT-SRV-ATTR:host']
        self.assertEqual(self.expected, self._sizes(server, host))
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._allocation(server))

    def test_evacuate(self):
        self.computes['src'].stop()
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='src')
        self.admin_api.put_service_force_down(service['id'], True)
        server = self._evacuate_server(self.server, expected_host='dest')
        self.assertEqual(self.expected, self._sizes(server, 'dest'))
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._node_allocation('dest'))
        self.assertEqual(3, self._get(server)['vcpus']['allocated'])

    def test_adjust_after_evacuate_while_the_source_is_down(self):
        self.computes['src'].stop()
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='src')
        self.admin_api.put_service_force_down(service['id'], True)
        server = self._evacuate_server(self.server, expected_host='dest')
        # the server holds allocations on both hosts until src comes back
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._node_allocation('src'))

        self._adjust(server, current_vcpus=2, current_memory_mb=1024)

        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(server, 'dest'))
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._node_allocation('dest'))
        # the host it left is not the one adjusted
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 1536},
                         self._node_allocation('src'))
        view = self._get(server)
        self.assertEqual((2, 2), (view['vcpus']['current'],
                                  view['vcpus']['allocated']))
        self.assertEqual(1024, view['memory_mb']['allocated'])
