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

"""Servers boot at their flavor's minimum_cpu / minimum_memory.

REST API -> conductor / scheduler -> placement -> compute -> fake libvirt,
asserting on the placement allocation and the domain XML.
"""

import io
import time
from unittest import mock

from lxml import etree

from nova.cmd import manage
from nova import context as nova_context
from nova import objects
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import base


class XloudMinimumTestBase(base.ServersTestBase):
    microversion = 'latest'
    ADMIN_API = True

    def setUp(self):
        super().setUp()
        self.ctxt = nova_context.get_admin_context()

    def _flavor(self, vcpus=4, memory_mb=2048, disk=1, **extra_spec):
        return self._create_flavor(vcpu=vcpus, memory_mb=memory_mb,
                                   disk=disk, ephemeral=0,
                                   extra_spec=extra_spec or None)

    def _domain(self, server, host='compute1'):
        conn = self.computes[host].driver._host.get_connection()
        return conn.lookupByUUIDString(server['id'])

    def _sizes(self, server, host='compute1'):
        """(max vCPUs, current vCPUs, max KiB, current KiB) of the domain."""
        doc = etree.fromstring(self._domain(server, host).XMLDesc(0))
        vcpu = doc.find('vcpu')
        current = vcpu.get('current')
        current_memory = doc.find('currentMemory')
        return (int(vcpu.text), int(current) if current else None,
                int(doc.find('memory').text),
                int(current_memory.text)
                if current_memory is not None else None)

    def _allocation(self, server):
        [alloc] = self._get_allocations_by_server_uuid(
            server['id']).values()
        return {rc: amount for rc, amount in alloc['resources'].items()
                if rc in ('VCPU', 'MEMORY_MB')}

    def _assert_400(self, func, *args, **kwargs):
        exc = self.assertRaises(client.OpenStackApiException, func, *args,
                                **kwargs)
        self.assertEqual(400, exc.response.status_code)
        return exc.response.json()['badRequest']['message']


class BootAtMinimumTest(XloudMinimumTestBase):

    def setUp(self):
        super().setUp()
        self.start_compute('compute1')

    def test_boot_at_minimum(self):
        flavor = self._flavor(minimum_cpu='2', minimum_memory='1024')
        server = self._create_server(flavor_id=flavor, networks='none')
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(server))
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._allocation(server))
        # the balloon that makes <currentMemory> work is there
        doc = etree.fromstring(self._domain(server).XMLDesc(0))
        self.assertEqual('virtio', doc.find('./devices/memballoon').get(
            'model'))

    def test_boot_at_minimum_without_balloon_stats(self):
        self.flags(mem_stats_period_seconds=0, group='libvirt')
        self.restart_compute_service('compute1')
        flavor = self._flavor(minimum_memory='1024')
        server = self._create_server(flavor_id=flavor, networks='none')
        doc = etree.fromstring(self._domain(server).XMLDesc(0))
        self.assertEqual('virtio', doc.find('./devices/memballoon').get(
            'model'))
        self.assertEqual((4, None, 2048 * 1024, 1024 * 1024),
                         self._sizes(server))

    def test_plain_flavor_is_upstream(self):
        flavor = self._flavor()
        server = self._create_server(flavor_id=flavor, networks='none')
        xml = self._domain(server).XMLDesc(0)
        self.assertIn('<vcpu>4</vcpu>', xml)
        self.assertIn('<currentMemory>2097152</currentMemory>', xml)
        self.assertNotIn('current=', xml)
        self.assertEqual({'VCPU': 4, 'MEMORY_MB': 2048},
                         self._allocation(server))

    def test_hard_reboot_and_stop_start_keep_the_minimum(self):
        flavor = self._flavor(minimum_cpu='2', minimum_memory='1024')
        server = self._create_server(flavor_id=flavor, networks='none')
        self._reboot_server(server, hard=True)
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(server))
        server = self._stop_server(server)
        server = self._start_server(server)
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(server))
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._allocation(server))

    def test_quota_counts_the_maximum(self):
        # the default quota driver counts the flavor, so growing a server
        # later can never take a project over its quota
        flavor = self._flavor(minimum_cpu='1', minimum_memory='512')
        self._create_server(flavor_id=flavor, networks='none')
        usage = self.api.api_get(
            '/os-quota-sets/%s/detail' % self.api.project_id
        ).body['quota_set']
        self.assertEqual(4, usage['cores']['in_use'])
        self.assertEqual(2048, usage['ram']['in_use'])

    def _resize(self, server, flavor):
        # as upstream's libvirt functional tests do: the fake has no disks
        with mock.patch('nova.virt.libvirt.driver.LibvirtDriver'
                        '.migrate_disk_and_power_off', return_value='{}'):
            return self._resize_server(server, flavor)

    def test_resize_between_minimum_and_plain(self):
        self.flags(allow_resize_to_same_host=True)
        small = self._flavor(minimum_cpu='1', minimum_memory='512')
        plain = self._flavor(vcpus=2, memory_mb=1024)
        server = self._create_server(flavor_id=small, networks='none')
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 512},
                         self._allocation(server))

        server = self._resize(server, plain)
        server = self._confirm_resize(server)
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._allocation(server))
        self.assertEqual((2, None, 1024 * 1024, 1024 * 1024),
                         self._sizes(server))

        server = self._resize(server, small)
        server = self._confirm_resize(server)
        self.assertEqual({'VCPU': 1, 'MEMORY_MB': 512},
                         self._allocation(server))
        self.assertEqual((4, 1, 2048 * 1024, 512 * 1024),
                         self._sizes(server))


class RefusalsTest(XloudMinimumTestBase):
    """Every envelope the API refuses, with a 400 that says why."""

    def setUp(self):
        super().setUp()
        self.start_compute('compute1')

    def _set_spec(self, flavor, key, value, microversion):
        self.admin_api.microversion = microversion
        try:
            return self._assert_400(self.admin_api.post_extra_spec, flavor,
                                    {'extra_specs': {key: value}})
        finally:
            self.admin_api.microversion = self.microversion

    def test_minimum_above_maximum_at_every_microversion(self):
        flavor = self._flavor()
        for microversion in ('2.1', '2.85', '2.86', 'latest'):
            msg = self._set_spec(flavor, 'minimum_cpu', '5', microversion)
            self.assertIn("minimum_cpu (5) cannot exceed the flavor's vcpus "
                          "(4)", msg)
            msg = self._set_spec(flavor, 'minimum_memory', '4096',
                                 microversion)
            self.assertIn("minimum_memory (4096) cannot exceed the flavor's "
                          "memory_mb (2048)", msg)
            msg = self._set_spec(flavor, 'minimum_cpu', 'two', microversion)
            self.assertIn('two', msg)
        self.assertEqual({}, self.admin_api.get_extra_specs(flavor))

    def test_unsupported_combinations(self):
        cases = (
            ('minimum_cpu', {'hw:cpu_policy': 'dedicated'},
             'dedicated CPU policy'),
            ('minimum_cpu', {'hw:cpu_policy': 'mixed',
                             'hw:cpu_dedicated_mask': '^0'},
             'mixed CPU policy'),
            ('minimum_cpu', {'hw:cpu_realtime': 'yes',
                             'hw:cpu_policy': 'shared'}, 'realtime'),
            ('minimum_memory', {'hw:mem_page_size': 'large'},
             'hw:mem_page_size'),
            ('minimum_memory', {'hw:mem_encryption': 'true'},
             'memory encryption'),
            ('minimum_memory', {'pci_passthrough:alias': 'a1:1'},
             'PCI or vGPU'),
            ('minimum_memory', {'resources:VGPU': '1'}, 'PCI or vGPU'),
            # upstream's own override of the amount placement allocates
            ('minimum_cpu', {'resources:VCPU': '3'}, 'resources:VCPU'),
            ('minimum_memory', {'resources:MEMORY_MB': '1024'},
             'resources:MEMORY_MB'),
        )
        for key, specs, reason in cases:
            flavor = self._flavor()
            self.admin_api.microversion = '2.1'  # no value validation
            self.admin_api.post_extra_spec(flavor, {'extra_specs': specs})
            self.admin_api.microversion = self.microversion
            msg = self._set_spec(flavor, key, '1', 'latest')
            self.assertIn(reason, msg)
            # and the other way round: a minimum first, then the clash
            flavor = self._flavor(**{key: '1'})
            msg = self._assert_400(self.admin_api.post_extra_spec, flavor,
                                   {'extra_specs': specs})
            self.assertIn(reason, msg)

    def _sneak_specs(self, flavor_id, **specs):
        # flavors that predate XLoud's checks, straight into the database
        flavor = objects.Flavor.get_by_flavor_id(self.ctxt, flavor_id)
        flavor.extra_specs = dict(flavor.extra_specs, **specs)
        flavor.save()

    def test_boot_with_flavor_that_predates_the_checks(self):
        for specs, reason in (
                ({'minimum_cpu': '8'}, "cannot exceed the flavor's vcpus"),
                ({'minimum_memory': '1024', 'hw:mem_page_size': 'large'},
                 'hw:mem_page_size')):
            flavor = self._flavor()
            self._sneak_specs(flavor, **specs)
            msg = self._assert_400(
                self.api.post_server,
                {'server': self._build_server(flavor_id=flavor,
                                              networks='none')})
            self.assertIn(reason, msg)
        self.assertEqual([], self.api.get_servers())

    def test_boot_with_clashing_image(self):
        flavor = self._flavor(minimum_cpu='1')
        image = self._create_image({'hw_cpu_policy': 'dedicated'})
        msg = self._assert_400(
            self.api.post_server,
            {'server': self._build_server(flavor_id=flavor,
                                          image_uuid=image['id'],
                                          networks='none')})
        self.assertIn('dedicated CPU policy', msg)

    def test_resize_to_flavor_that_predates_the_checks(self):
        self.flags(allow_resize_to_same_host=True)
        server = self._create_server(flavor_id=self._flavor(),
                                     networks='none')
        bad = self._flavor(vcpus=2)
        self._sneak_specs(bad, minimum_cpu='3')
        msg = self._assert_400(
            self.api.post_server_action, server['id'],
            {'resize': {'flavorRef': bad}})
        self.assertIn("minimum_cpu (3) cannot exceed the flavor's vcpus (2)",
                      msg)
        self.assertEqual('ACTIVE', self.api.get_server(server['id'])[
            'status'])


class TwoHostsMixin(base.LibvirtMigrationMixin):
    """Hosts 'src' and 'dest', for live migrations from one to the other."""

    def setUp(self):
        super().setUp()
        self.start_compute('src')
        self.start_compute('dest')
        self.src = self.computes['src']
        self.dest = self.computes['dest']


class LiveMigrationKeepsMinimumTest(TwoHostsMixin, XloudMinimumTestBase):

    def test_live_migration_keeps_current(self):
        flavor = self._flavor(minimum_cpu='2', minimum_memory='1024')
        self.server = self._create_server(flavor_id=flavor, host='src',
                                          networks='none')
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(self.server, 'src'))
        self._live_migrate(self.server, 'completed')
        self.assertEqual('dest', self.api.get_server(self.server['id'])[
            'OS-EXT-SRV-ATTR:host'])
        self.assertEqual((4, 2, 2048 * 1024, 1024 * 1024),
                         self._sizes(self.server, 'dest'))
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._allocation(self.server))


class DensityTest(XloudMinimumTestBase):
    """How many servers one host takes, with and without minimum_cpu."""

    def setUp(self):
        super().setUp()
        self.flags(cpu_allocation_ratio=1.0)
        # quota counts the flavor maximum; it must not be what stops us
        self.flags(cores=100, instances=100, group='quota')
        self.start_compute('compute1')

    def _boot(self, flavor):
        server = self.api.post_server({'server': self._build_server(
            flavor_id=flavor, networks='none')})
        for _ in range(50):
            server = self.api.get_server(server['id'])
            if server['status'] in ('ACTIVE', 'ERROR'):
                return server
            time.sleep(0.1)
        self.fail('server %s is still %s' % (server['id'], server['status']))

    def _fill(self, flavor):
        servers = []
        while len(servers) < 40:
            server = self._boot(flavor)
            if server['status'] == 'ERROR':
                self.assertIn('No valid host', server['fault']['message'])
                self._delete_server(server)
                break
            servers.append(server)
        for server in servers:
            self._delete_server(server)
        return len(servers)

    def test_density(self):
        rp = self._get_provider_uuid_by_host('compute1')
        vcpu = self._get_provider_inventory(rp)['VCPU']
        capacity = int((vcpu['total'] - vcpu['reserved']) *
                       vcpu['allocation_ratio'])
        plain = self._fill(self._flavor(memory_mb=256))
        small = self._fill(self._flavor(memory_mb=256, minimum_cpu='1'))
        self.assertEqual(capacity // 4, plain)
        self.assertEqual(capacity, small)
        # the theoretical ratio: vcpus / minimum_cpu
        self.assertEqual(4.0, small / plain)


class MovesKeepMinimumTest(TwoHostsMixin, XloudMinimumTestBase):
    """Every move sizes the new allocation, and the guest, at the minimum."""

    def setUp(self):
        super().setUp()
        self.flavor = self._flavor(minimum_cpu='2', minimum_memory='1024')
        self.expected = (4, 2, 2048 * 1024, 1024 * 1024)

    def _host(self, server):
        return self.admin_api.get_server(server['id'])[
            'OS-EXT-SRV-ATTR:host']

    def _assert_minimum(self, server):
        host = self._host(server)
        self.assertEqual(self.expected, self._sizes(server, host))
        self.assertEqual({'VCPU': 2, 'MEMORY_MB': 1024},
                         self._allocation(server))

    def test_cold_migration(self):
        server = self._create_server(flavor_id=self.flavor, host='src',
                                     networks='none')
        with mock.patch('nova.virt.libvirt.driver.LibvirtDriver'
                        '.migrate_disk_and_power_off', return_value='{}'):
            server = self._migrate_server(server)
        server = self._confirm_resize(server)
        self.assertEqual('dest', self._host(server))
        self._assert_minimum(server)

    def test_shelve_unshelve(self):
        server = self._create_server(flavor_id=self.flavor, host='src',
                                     networks='none')
        server = self._shelve_server(server)
        self.assertEqual({}, self._get_allocations_by_server_uuid(
            server['id']))
        server = self._unshelve_server(server)
        self._assert_minimum(server)

    def test_evacuate(self):
        server = self._create_server(flavor_id=self.flavor, host='src',
                                     networks='none')
        self.computes['src'].stop()
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='src')
        self.admin_api.put_service_force_down(service['id'], True)
        # upstream's helper waits for SHUTOFF: in this harness the stopped
        # source compute last reported the guest as shut off
        server = self._evacuate_server(server, expected_host='dest')
        self.assertEqual(self.expected, self._sizes(server, 'dest'))
        allocations = self._get_allocations_by_server_uuid(server['id'])
        dest_rp = self._get_provider_uuid_by_host('dest')
        self.assertEqual(
            {'VCPU': 2, 'MEMORY_MB': 1024},
            {rc: n for rc, n in allocations[dest_rp]['resources'].items()
             if rc in ('VCPU', 'MEMORY_MB')})

    def test_heal_allocations(self):
        server = self._create_server(flavor_id=self.flavor, host='src',
                                     networks='none')
        self._delete_server_allocations(server['id'])
        cli = manage.PlacementCommands()
        with mock.patch('sys.stdout', new=io.StringIO()):
            self.assertEqual(0, cli.heal_allocations(verbose=True))
        self._assert_minimum(server)
