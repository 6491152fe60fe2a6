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

"""Moves of an adjusted server claim, through the scheduler, the size its
guest will run at: into a host without room for that they never go.

Hosts have cpu_allocation_ratio=1.0. Each test fills the destination so
that it has room for the flavor's minimum but not for the adjusted size,
checks that the move fails as upstream's does with the server where it
was, then makes room and checks that the move lands with the allocation
already right: follow_guest(), the compute's safety net, is disabled, so
only the scheduler's claim can have made it so.
"""

from unittest import mock

from nova.tests.functional.libvirt import base
from nova.tests.functional.libvirt import test_xloud_adjust

NO_SAFETY_NET = 'nova.xloud.placement.follow_guest'


class TwoHostsTestBase(base.LibvirtMigrationMixin,
                       test_xloud_adjust.XloudAdjustTestBase):
    """Two computes, src and dest, with VCPUs counted one for one."""

    def setUp(self):
        super().setUp()
        self.flags(cpu_allocation_ratio=1.0)
        self.flags(cores=1000, instances=100, ram=10 ** 7, group='quota')
        self.start_compute('src')
        self.start_compute('dest')
        # what LibvirtMigrationMixin migrates between
        self.src = self.computes['src']
        self.dest = self.computes['dest']

    def _free_vcpus(self, host):
        rp = self._get_provider_uuid_by_host(host)
        total = self._get_provider_inventory(rp)['VCPU']['total']
        return total - self._get_provider_usages(rp)['VCPU']

    def _fill(self, host, leave):
        """Boot a plain server on host so that ``leave`` VCPUs stay free."""
        flavor = self._flavor(vcpus=self._free_vcpus(host) - leave,
                              memory_mb=128)
        filler = self._create_server(flavor_id=flavor, host=host,
                                     networks='none')
        self.assertEqual(leave, self._free_vcpus(host))
        return filler


class TightHostTest(TwoHostsTestBase):

    def setUp(self):
        super().setUp()
        self.server = self._create_server(flavor_id=self.flavor, host='src',
                                          networks='none')
        # persisted: the next boot, anywhere, runs 3 vCPUs
        self._adjust(self.server, current_vcpus=3)

    def _host(self, server=None):
        return self.admin_api.get_server(
            (server or self.server)['id'])['OS-EXT-SRV-ATTR:host']

    def _node_allocations(self):
        """{host: {'VCPU': n, 'MEMORY_MB': m}} of the server."""
        allocations = self._get_allocations_by_server_uuid(self.server['id'])
        found = {}
        for host in ('src', 'dest'):
            rp = self._get_provider_uuid_by_host(host)
            if rp in allocations:
                found[host] = {
                    rc: n for rc, n in allocations[rp]['resources'].items()
                    if rc in ('VCPU', 'MEMORY_MB')}
        return found

    def _assert_on(self, host, vcpus):
        self.assertEqual(host, self._host())
        self.assertEqual({host: {'VCPU': vcpus, 'MEMORY_MB': 512}},
                         self._node_allocations())
        self.assertEqual(vcpus, self._sizes(self.server, host)[1])

    def test_cold_migration(self):
        filler = self._fill('dest', leave=1)
        self.api.post_server_action(self.server['id'], {'migrate': None})
        self._wait_for_migration_status(self.server, ['error'])
        self._wait_for_state_change(self.server, 'ACTIVE')
        self.assertIsNone(self._task_state())
        self._assert_on('src', 3)

        self._delete_server(filler)
        with mock.patch(NO_SAFETY_NET) as follow, mock.patch(
                'nova.virt.libvirt.driver.LibvirtDriver'
                '.migrate_disk_and_power_off', return_value='{}'):
            self._migrate_server(self.server)
            # the claim on dest is the next-boot size, while the resize
            # waits for confirmation
            self.assertEqual({'VCPU': 3, 'MEMORY_MB': 512},
                             self._node_allocations()['dest'])
            self._confirm_resize(self.server)
        follow.assert_called()  # it was there to be called, and did nothing
        self._assert_on('dest', 3)

    def test_live_migration_claims_the_live_size(self):
        # live 2, next boot 3: a live migration keeps the guest at 2
        self._adjust(self.server, current_vcpus=2, persist=False)
        filler = self._fill('dest', leave=1)
        self._live_migrate(self.server, 'error')
        self._assert_on('src', 2)

        self._delete_server(filler)
        self._fill('dest', leave=2)
        with mock.patch(NO_SAFETY_NET):
            self._live_migrate(self.server, 'completed')
        self._assert_on('dest', 2)

    def _source_down(self):
        self.computes['src'].stop()
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='src')
        self.admin_api.put_service_force_down(service['id'], True)

    def test_evacuate(self):
        filler = self._fill('dest', leave=1)
        self._source_down()
        self.admin_api.post_server_action(self.server['id'],
                                          {'evacuate': {}})
        # as upstream: NoValidHost leaves the server in ERROR, where it was
        self._wait_for_state_change(self.server, 'ERROR')
        self.assertEqual('src', self._host())
        self.assertEqual({'src': {'VCPU': 3, 'MEMORY_MB': 512}},
                         self._node_allocations())

        self._delete_server(filler)
        with mock.patch(NO_SAFETY_NET):
            self._evacuate_server(self.server, expected_host='dest',
                                  expected_state='ACTIVE')
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 512},
                         self._node_allocations()['dest'])
        self.assertEqual(3, self._sizes(self.server, 'dest')[1])

    def test_unshelve(self):
        self._shelve_server(self.server)
        self.assertEqual({}, self._node_allocations())
        fillers = [self._fill(host, leave=1) for host in ('src', 'dest')]
        self.api.post_server_action(self.server['id'], {'unshelve': None})
        self._wait_for_action_fail_completion(
            self.server, 'unshelve', 'schedule_instances')
        server = self._wait_for_state_change(self.server,
                                             'SHELVED_OFFLOADED')
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        self.assertEqual({}, self._node_allocations())

        self._delete_server(fillers[1])
        with mock.patch(NO_SAFETY_NET):
            self._unshelve_server(self.server)
        self._assert_on('dest', 3)

    def _task_state(self):
        return self.admin_api.get_server(
            self.server['id'])['OS-EXT-STS:task_state']
