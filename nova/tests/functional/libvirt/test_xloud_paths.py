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

"""The invariant on every path that restarts or regenerates the domain.

Each test adjusts the server first, with persist true and with persist
false (so the size it runs at and its next-boot size differ), takes one
path, and then checks that three things agree: the placement allocation
on the host the server runs on, what its domain has, and what GET says.
"""

from unittest import mock

import ddt
import fixtures
from lxml import etree

import nova.conf
from nova.policies import base as base_policies
from nova.policies import servers as servers_policies
from nova.tests.fixtures import xloud_ceilometer
from nova.tests.functional.libvirt import base
from nova.tests.functional.libvirt import test_xloud_adjust

FAKE_DISK_MOVE = ('nova.virt.libvirt.driver.LibvirtDriver'
                  '.migrate_disk_and_power_off')


@ddt.ddt
class EveryPathTest(base.LibvirtMigrationMixin,
                    test_xloud_adjust.XloudAdjustTestBase):

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=False)
        # what billing rates: Ceilometer's meters over what Nova sends
        self.flags(notification_format='versioned', group='notifications')
        self.gauges = xloud_ceilometer.Gauges(
            self.notifier.versioned_notifications)
        self.start_compute('src')
        self.start_compute('dest')
        self.src = self.computes['src']
        self.dest = self.computes['dest']
        self.other = self._flavor(vcpus=4, memory_mb=2048,
                                  minimum_cpu='2', minimum_memory='768')
        self.server = self._create_server(flavor_id=self.flavor, host='src',
                                          networks='none')
        # persisted first, so that a non-persisted adjust differs from it
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)

    def _adjusted(self, persist):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536,
                     persist=persist)
        self._assert_invariant({'VCPU': 3, 'MEMORY_MB': 1536})

    def _host(self):
        return self.admin_api.get_server(
            self.server['id'])['OS-EXT-SRV-ATTR:host']

    def _domain_has(self, host):
        doc = etree.fromstring(self._domain(self.server, host).XMLDesc(0))
        vcpu = doc.find('vcpu')
        current_memory = doc.find('currentMemory')
        return {'VCPU': int(vcpu.get('current') or vcpu.text),
                'MEMORY_MB': int(current_memory.text) // 1024}

    def _assert_rated(self, expected):
        """Billing rates the server at ``expected``."""
        self.assertEqual(
            {'vcpus': expected['VCPU'], 'memory_mb': expected['MEMORY_MB']},
            self.gauges.of(self.server['id']))

    def _assert_invariant(self, expected=None):
        """Allocation == domain == GET == what billing rates, no task left.

        ``expected``, where given, is the size the server must have (the
        size asked for); where a path's size is not the test's to say, the
        size its domain has.
        """
        server = self.admin_api.get_server(self.server['id'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        host = server['OS-EXT-SRV-ATTR:host']
        domain = self._domain_has(host)
        allocations = self._get_allocations_by_server_uuid(self.server['id'])
        rp = self._get_provider_uuid_by_host(host)
        allocated = {rc: n for rc, n in allocations[rp]['resources'].items()
                     if rc in ('VCPU', 'MEMORY_MB')}
        view = self._get(self.server)
        self.assertEqual(domain, allocated)
        self.assertEqual(domain, {'VCPU': view['vcpus']['current'],
                                  'MEMORY_MB': view['memory_mb']['current']})
        # the server holds no allocation anywhere else
        self.assertEqual([rp], list(allocations))
        if expected:
            self.assertEqual(expected, domain)
        self._assert_rated(expected or domain)

    def _next_boot(self, persist):
        return ({'VCPU': 3, 'MEMORY_MB': 1536} if persist
                else {'VCPU': 2, 'MEMORY_MB': 1024})

    @ddt.data(True, False)
    def test_hard_reboot(self, persist):
        self._adjusted(persist)
        self._reboot_server(self.server, hard=True)
        self._assert_invariant(self._next_boot(persist))

    @ddt.data(True, False)
    def test_soft_reboot(self, persist):
        self._adjusted(persist)
        self._reboot_server(self.server)
        # Nova's soft reboot shuts the guest down and starts its definition
        self._assert_invariant(self._next_boot(persist))

    @ddt.data(True, False)
    def test_stop_start(self, persist):
        self._adjusted(persist)
        self._stop_server(self.server)
        self._start_server(self.server)
        self._assert_invariant(self._next_boot(persist))

    @ddt.data(True, False)
    def test_rescue_unrescue(self, persist):
        # as upstream's rescue tests in this harness: the rescue disk is
        # created without privsep, and unrescue.xml goes to instances_path
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.imagebackend._update_utime_ignore_eacces'))
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.utils.get_instance_path',
            lambda *args, **kwargs: nova.conf.CONF.instances_path))
        self._adjusted(persist)
        self.api.post_server_action(self.server['id'], {'rescue': {}})
        self._wait_for_state_change(self.server, 'RESCUE')
        self._assert_invariant(self._next_boot(persist))
        self.api.post_server_action(self.server['id'], {'unrescue': None})
        self._wait_for_state_change(self.server, 'ACTIVE')
        # the guest boots again: at its next-boot size
        self._assert_invariant(self._next_boot(persist))
        self._assert_next_boot(self._next_boot(persist))

    def _resize(self, flavor):
        with mock.patch(FAKE_DISK_MOVE, return_value='{}'):
            self.api.post_server_action(
                self.server['id'], {'resize': {'flavorRef': flavor}})
            self._wait_for_state_change(self.server, 'VERIFY_RESIZE')

    @ddt.data(True, False)
    def test_resize_confirm(self, persist):
        self._adjusted(persist)
        self._resize(self.other)
        self._confirm_resize(self.server)
        # another flavor starts at its minimum
        self._assert_invariant({'VCPU': 2, 'MEMORY_MB': 768})
        self._reboot_server(self.server, hard=True)
        self._assert_invariant({'VCPU': 2, 'MEMORY_MB': 768})

    def _assert_next_boot(self, expected):
        view = self._get(self.server)
        self.assertEqual(expected, {'VCPU': view['vcpus']['next_boot'],
                                    'MEMORY_MB': view['memory_mb'][
                                        'next_boot']})

    @ddt.data(True, False)
    def test_resize_revert(self, persist):
        self._adjusted(persist)
        self._resize(self.other)
        self._revert_resize(self.server)
        self.assertEqual('src', self._host())
        # a revert gives back the next-boot size the server had before the
        # resize, and boots at it; the next boot keeps it
        self._assert_invariant(self._next_boot(persist))
        self._assert_next_boot(self._next_boot(persist))
        self._reboot_server(self.server, hard=True)
        self._assert_invariant(self._next_boot(persist))

    @ddt.data(True, False)
    def test_resize_a_b_a(self, persist):
        self._adjusted(persist)
        self._resize(self.other)
        self._confirm_resize(self.server)
        self._resize(self.flavor)
        self._confirm_resize(self.server)
        # back on the first flavor, at its minimum: not at what it had been
        # adjusted to before
        self._assert_invariant({'VCPU': 1, 'MEMORY_MB': 512})
        self._reboot_server(self.server, hard=True)
        self._assert_invariant({'VCPU': 1, 'MEMORY_MB': 512})

    @ddt.data(True, False)
    def test_cold_migrate_confirm_and_revert(self, persist):
        self._adjusted(persist)
        with mock.patch(FAKE_DISK_MOVE, return_value='{}'):
            self._migrate_server(self.server)
        self._revert_resize(self.server)
        self._assert_invariant()
        with mock.patch(FAKE_DISK_MOVE, return_value='{}'):
            self._migrate_server(self.server)
        self._confirm_resize(self.server)
        self._assert_invariant(self._next_boot(persist))

    def test_rated_from_its_boot(self):
        # a server never adjusted: billed at the minimum it booted at
        server = self._create_server(flavor_id=self.flavor, host='src',
                                     networks='none')
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         self.gauges.of(server['id']))

    @ddt.data(True, False)
    def test_live_migration(self, persist):
        self._adjusted(persist)
        self._live_migrate(self.server, 'completed')
        self.assertEqual('dest', self._host())
        self._assert_invariant({'VCPU': 3, 'MEMORY_MB': 1536})

    @ddt.data(True, False)
    def test_shelve_unshelve(self, persist):
        self._adjusted(persist)
        self._shelve_server(self.server)
        self._unshelve_server(self.server)
        self._assert_invariant(self._next_boot(persist))

    @ddt.data(True, False)
    def test_soft_delete_restore(self, persist):
        # a restore powers the guest on again: at its next-boot size
        self.flags(reclaim_instance_interval=3600)
        self._adjusted(persist)
        self.api.delete_server(self.server['id'])
        self._wait_for_state_change(self.server, 'SOFT_DELETED')
        self.api.post_server_action(self.server['id'], {'restore': None})
        self._wait_for_state_change(self.server, 'ACTIVE')
        self._assert_invariant(self._next_boot(persist))
        self._assert_next_boot(self._next_boot(persist))

    @ddt.data(True, False)
    def test_evacuate(self, persist):
        self._adjusted(persist)
        self.computes['src'].stop()
        [service] = self.admin_api.get_services(binary='nova-compute',
                                                host='src')
        self.admin_api.put_service_force_down(service['id'], True)
        # upstream's helper waits for SHUTOFF: in this harness the stopped
        # source compute last reported the guest as shut off
        self._evacuate_server(self.server, expected_host='dest')
        # the host it left holds its old allocation until it comes back
        allocations = self._get_allocations_by_server_uuid(self.server['id'])
        rp = self._get_provider_uuid_by_host('dest')
        self.assertEqual(
            self._next_boot(persist),
            {rc: n for rc, n in allocations[rp]['resources'].items()
             if rc in ('VCPU', 'MEMORY_MB')})
        self.assertEqual(self._next_boot(persist), self._domain_has('dest'))
        self._assert_rated(self._next_boot(persist))


@ddt.ddt
class CrossCellTest(test_xloud_adjust.XloudAdjustTestBase):
    """Cross-cell resize, confirmed and reverted, of an adjusted server."""

    NUMBER_OF_CELLS = 2

    def setUp(self):
        super().setUp()
        self.policy.set_rules({
            servers_policies.CROSS_CELL_RESIZE:
                base_policies.RULE_ADMIN_API}, overwrite=False)
        self.flags(long_rpc_timeout=60)
        self.start_compute('host1', cell_name='cell1')
        self.start_compute('host2', cell_name='cell2')
        # the snapshot taken at the source is an image record only here
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.snapshot'))
        self.other = self._flavor(vcpus=4, memory_mb=2048,
                                  minimum_cpu='2', minimum_memory='768')
        self.server = self._create_server(flavor_id=self.flavor,
                                          host='host1', networks='none')
        self._adjust(self.server, current_vcpus=2, current_memory_mb=1024)

    def _assert_invariant(self, host, expected):
        server = self.admin_api.get_server(self.server['id'])
        self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        doc = etree.fromstring(self._domain(self.server, host).XMLDesc(0))
        domain = {'VCPU': int(doc.find('vcpu').get('current')),
                  'MEMORY_MB': int(doc.find('currentMemory').text) // 1024}
        self.assertEqual(expected, domain)
        self.assertEqual(expected, self._allocation(self.server))
        view = self._get(self.server)
        self.assertEqual(expected, {'VCPU': view['vcpus']['current'],
                                    'MEMORY_MB': view['memory_mb']['current']})

    def _resize(self):
        self.admin_api.post_server_action(
            self.server['id'], {'resize': {'flavorRef': self.other}})
        self._wait_for_state_change(self.server, 'VERIFY_RESIZE')

    @ddt.data(True, False)
    def test_confirm(self, persist):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536,
                     persist=persist)
        self._resize()
        self._assert_invariant('host2', {'VCPU': 2, 'MEMORY_MB': 768})
        self.admin_api.post_server_action(self.server['id'],
                                          {'confirmResize': None})
        self._wait_for_state_change(self.server, 'ACTIVE')
        self._assert_invariant('host2', {'VCPU': 2, 'MEMORY_MB': 768})

    @ddt.data(True, False)
    def test_revert(self, persist):
        self._adjust(self.server, current_vcpus=3, current_memory_mb=1536,
                     persist=persist)
        self._resize()
        self.admin_api.post_server_action(self.server['id'],
                                          {'revertResize': None})
        self._wait_for_state_change(self.server, 'ACTIVE')
        self._wait_for_migration_status(self.server, ['reverted'])
        # the source compute is done when it says so (as upstream's
        # cross-cell tests wait): the server may show ACTIVE before
        self.notifier.wait_for_versioned_notifications(
            'instance.resize_revert.end')
        # back at the source, at the next-boot size it had before the
        # resize: 3 / 1536 persisted, else the 2 / 1024 persisted in setUp
        expected = ({'VCPU': 3, 'MEMORY_MB': 1536} if persist
                    else {'VCPU': 2, 'MEMORY_MB': 1024})
        self._assert_invariant('host1', expected)
        view = self._get(self.server)
        self.assertEqual(expected, {'VCPU': view['vcpus']['next_boot'],
                                    'MEMORY_MB': view['memory_mb'][
                                        'next_boot']})
