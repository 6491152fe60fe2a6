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

"""Guests booted at their flavor's minimum_cpu / minimum_memory."""

import fixtures
from lxml import etree
from oslo_utils import units

from nova.compute import vm_states
from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.unit.virt.libvirt import test_driver
from nova.virt import fake
from nova.virt.libvirt import blockinfo
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import xloud
from nova.virt.libvirt import xloud_guest


class TestGuestConfig(test.NoDBTestCase):
    """ConfigGuest formats and parses the current sizes."""

    def _guest(self):
        guest = xloud_guest.ConfigGuest()
        guest.virt_type = 'kvm'
        guest.name = 'demo'
        guest.uuid = 'b38a3f43-4be2-4046-897f-b67c2f5e0147'
        guest.memory = 2 * units.Mi
        guest.vcpus = 4
        guest.os_type = 'hvm'
        return guest

    def test_default_has_neither(self):
        xml = self._guest().to_xml()
        self.assertNotIn('current', xml)
        self.assertIn('<vcpu>4</vcpu>', xml)

    def test_format(self):
        guest = self._guest()
        guest.vcpus_current = 2
        guest.current_memory = units.Mi
        doc = etree.fromstring(guest.to_xml())
        self.assertEqual('2', doc.find('vcpu').get('current'))
        self.assertEqual('4', doc.find('vcpu').text)
        self.assertEqual(str(units.Mi), doc.find('currentMemory').text)
        self.assertEqual(str(2 * units.Mi), doc.find('memory').text)
        # libvirt's own order: <memory>, then <currentMemory>
        tags = [child.tag for child in doc]
        self.assertEqual(tags.index('memory') + 1,
                         tags.index('currentMemory'))

    def test_format_with_cpuset(self):
        guest = self._guest()
        guest.cpuset = {0, 1}
        guest.vcpus_current = 1
        vcpu = etree.fromstring(guest.to_xml()).find('vcpu')
        self.assertEqual({'cpuset': '0-1', 'current': '1'}, dict(vcpu.attrib))

    def test_round_trip(self):
        guest = self._guest()
        guest.vcpus_current = 3
        guest.current_memory = 1536 * units.Ki
        parsed = xloud_guest.ConfigGuest()
        parsed.parse_str(guest.to_xml())
        self.assertEqual(4, parsed.vcpus)
        self.assertEqual(3, parsed.vcpus_current)
        self.assertEqual(1536 * units.Ki, parsed.current_memory)
        self.assertEqual(guest.to_xml(), parsed.to_xml())

    def test_format_vcpus(self):
        guest = self._guest()
        guest.vcpus_current = 2
        for number in range(4):
            vcpu = xloud_guest.ConfigGuestVCPU()
            vcpu.id = number
            vcpu.enabled = number < 2
            vcpu.hotpluggable = number >= 1
            guest.vcpu_list.append(vcpu)
        doc = etree.fromstring(guest.to_xml())
        self.assertEqual(
            [{'id': '0', 'enabled': 'yes', 'hotpluggable': 'no'},
             {'id': '1', 'enabled': 'yes', 'hotpluggable': 'yes'},
             {'id': '2', 'enabled': 'no', 'hotpluggable': 'yes'},
             {'id': '3', 'enabled': 'no', 'hotpluggable': 'yes'}],
            [dict(v.attrib) for v in doc.findall('./vcpus/vcpu')])
        # right after <vcpu>, as libvirt writes it
        tags = [child.tag for child in doc]
        self.assertEqual(tags.index('vcpu') + 1, tags.index('vcpus'))
        parsed = xloud_guest.ConfigGuest()
        parsed.parse_str(guest.to_xml())
        self.assertEqual(guest.to_xml(), parsed.to_xml())

    def test_parse_libvirt_vcpus(self):
        # libvirt adds the order of the vCPUs online at boot
        parsed = xloud_guest.ConfigGuest()
        parsed.parse_str("""
            <domain type='qemu'>
              <vcpu placement='static' current='1'>2</vcpu>
              <vcpus>
                <vcpu id='0' enabled='yes' hotpluggable='no' order='1'/>
                <vcpu id='1' enabled='no' hotpluggable='yes'/>
              </vcpus>
            </domain>""")
        self.assertEqual(
            [(0, True, False, 1), (1, False, True, None)],
            [(v.id, v.enabled, v.hotpluggable, v.order)
             for v in parsed.vcpu_list])

    def test_parse_real_libvirt_xml(self):
        parsed = xloud_guest.ConfigGuest()
        parsed.parse_str("""
            <domain type='qemu'>
              <name>demo</name>
              <memory unit='KiB'>2097152</memory>
              <currentMemory unit='KiB'>1048576</currentMemory>
              <vcpu placement='static' current='2'>4</vcpu>
            </domain>""")
        self.assertEqual((4, 2), (parsed.vcpus, parsed.vcpus_current))
        self.assertEqual((2097152, 1048576),
                         (parsed.memory, parsed.current_memory))


class TestDriverGuestConfig(test.NoDBTestCase):
    """LibvirtDriver._get_guest_config starts guests at the minimum."""

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.LibvirtFixture())
        self.useFixture(nova_fixtures.CGroupsFixture())
        self.flags(instances_path=self.useFixture(fixtures.TempDir()).path)
        self.drvr = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), True)

    def _config(self, image_props=None, sysmeta=None, **extra_specs):
        instance = objects.Instance(**test_driver._create_test_instance())
        instance.system_metadata.update(sysmeta or {})
        # as a first boot (spawn) passes it; a later one has a record
        instance.vm_state = vm_states.BUILDING
        instance.flavor = objects.Flavor(
            id=2, name='m1.xloud', flavorid='x1', memory_mb=2048, vcpus=4,
            root_gb=10, ephemeral_gb=0, swap=0, vcpu_weight=None,
            rxtx_factor=1.0, extra_specs=extra_specs)
        image_meta = objects.ImageMeta.from_dict(
            {'disk_format': 'raw', 'properties': image_props or {}})
        disk_info = blockinfo.get_disk_info('kvm', instance, image_meta)
        return self.drvr._get_guest_config(
            instance, test_driver._fake_network_info(self), image_meta,
            disk_info)

    def _balloons(self, cfg):
        return [d for d in cfg.devices
                if isinstance(d, vconfig.LibvirtConfigMemoryBalloon)]

    def _held(self, balloon):
        """Whether the guest cannot deflate ``balloon`` on its own."""
        return 'autodeflate="off"' in balloon.to_xml()

    def test_no_minimum_is_upstream(self):
        cfg = self._config()
        self.assertIsNone(cfg.vcpus_current)
        self.assertIsNone(cfg.current_memory)
        self.assertIsNone(cfg.memtune)
        self.assertNotIn('currentMemory', cfg.to_xml())
        self.assertNotIn('current=', cfg.to_xml())
        self.assertNotIn('memtune', cfg.to_xml())

    def _hard_limit(self, cfg):
        doc = etree.fromstring(cfg.to_xml())
        [limit] = doc.findall('./memtune/hard_limit')
        self.assertEqual('KiB', limit.get('unit'))
        return int(limit.text)

    def test_memory_limit_at_the_minimum(self):
        self.flags(memory_overhead_mb=100, group='xloud')
        cfg = self._config(minimum_memory='1024')
        self.assertEqual((1024 + 100) * units.Ki, self._hard_limit(cfg))

    def test_memory_limit_records_its_overhead(self):
        self.flags(memory_overhead_mb=100, group='xloud')
        doc = etree.fromstring(self._config(minimum_memory='1024').to_xml())
        [limit] = doc.findall('./metadata/{%s}limit' % xloud.METADATA_NS)
        self.assertEqual('100', limit.get('overhead_mib'))
        # beside Nova's own
        self.assertIsNotNone(doc.find('./metadata/{%s}instance' %
                                      vconfig.NOVA_NS))

    def test_memory_limit_default_overhead(self):
        cfg = self._config(minimum_memory='512')
        self.assertEqual((512 + 256) * units.Ki, self._hard_limit(cfg))

    def test_memory_limit_follows_the_persisted_size(self):
        self.flags(memory_overhead_mb=0, group='xloud')
        sysmeta = {'xloud_memory_mb': '1536', 'xloud_flavorid': 'x1'}
        cfg = self._config(minimum_memory='512', sysmeta=sysmeta)
        self.assertEqual(1536 * units.Ki, cfg.current_memory)
        self.assertEqual(1536 * units.Ki, self._hard_limit(cfg))

    def test_memory_limit_when_booting_at_the_maximum(self):
        # it can still be shrunk live, and must not take more meanwhile
        self.flags(memory_overhead_mb=64, group='xloud')
        sysmeta = {'xloud_memory_mb': '2048', 'xloud_flavorid': 'x1'}
        cfg = self._config(minimum_memory='512', sysmeta=sysmeta)
        self.assertIsNone(cfg.current_memory)
        self.assertEqual((2048 + 64) * units.Ki, self._hard_limit(cfg))

    def test_no_memory_limit_without_a_memory_minimum(self):
        for cfg in (self._config(minimum_cpu='2'),
                    self._config(minimum_memory='2048'),
                    self._config(image_props={'hw_mem_page_size': 'large'},
                                 minimum_memory='1024')):
            self.assertIsNone(cfg.memtune)
            self.assertNotIn('memtune', cfg.to_xml())

    def test_memory_limit_keeps_other_memtune(self):
        # should upstream ever set a <memtune> of its own
        memtune = vconfig.LibvirtConfigGuestMemoryTune()
        memtune.soft_limit = 4096
        guest = vconfig.LibvirtConfigGuest()
        guest.memtune = memtune
        xloud._limit_memory(guest, 512)
        self.assertIs(memtune, guest.memtune)
        self.assertEqual(4096, memtune.soft_limit)
        self.assertEqual((512 + 256) * units.Ki, memtune.hard_limit)

    def test_boot_at_minimum(self):
        cfg = self._config(minimum_cpu='2', minimum_memory='1024')
        self.assertEqual((4, 2), (cfg.vcpus, cfg.vcpus_current))
        self.assertEqual((2048 * units.Ki, 1024 * units.Ki),
                         (cfg.memory, cfg.current_memory))
        doc = etree.fromstring(cfg.to_xml())
        self.assertEqual('2', doc.find('vcpu').get('current'))
        self.assertEqual('1048576', doc.find('currentMemory').text)
        [balloon] = self._balloons(cfg)
        self.assertEqual('virtio', balloon.model)

    def _vcpus(self, cfg):
        """[(enabled, hotpluggable)] of each vCPU of ``<vcpus>``."""
        doc = etree.fromstring(cfg.to_xml())
        self.assertEqual(
            [str(n) for n in range(cfg.vcpus)],
            [v.get('id') for v in doc.findall('./vcpus/vcpu')])
        return [(v.get('enabled'), v.get('hotpluggable'))
                for v in doc.findall('./vcpus/vcpu')]

    def test_vcpus_above_the_minimum_are_hotpluggable(self):
        self.assertEqual(
            [('yes', 'no'), ('no', 'yes'), ('no', 'yes'), ('no', 'yes')],
            self._vcpus(self._config(minimum_cpu='1')))
        self.assertEqual(
            [('yes', 'no'), ('yes', 'no'), ('no', 'yes'), ('no', 'yes')],
            self._vcpus(self._config(minimum_cpu='2')))

    def test_vcpus_at_a_persisted_size(self):
        # booting at a grown size: what was grown stays hot-pluggable
        cfg = self._config(minimum_cpu='1', sysmeta={
            'xloud_vcpus': '3', 'xloud_flavorid': 'x1'})
        self.assertEqual(3, cfg.vcpus_current)
        self.assertEqual(
            [('yes', 'no'), ('yes', 'yes'), ('yes', 'yes'), ('no', 'yes')],
            self._vcpus(cfg))

    def test_vcpus_at_the_maximum(self):
        cfg = self._config(minimum_cpu='2', sysmeta={
            'xloud_vcpus': '4', 'xloud_flavorid': 'x1'})
        self.assertIsNone(cfg.vcpus_current)
        self.assertEqual(
            [('yes', 'no'), ('yes', 'no'), ('yes', 'yes'), ('yes', 'yes')],
            self._vcpus(cfg))

    def test_no_vcpus_without_a_cpu_minimum(self):
        for cfg in (self._config(), self._config(minimum_memory='512'),
                    self._config(minimum_cpu='4'),
                    self._config(image_props={'hw_cpu_policy': 'dedicated'},
                                 minimum_cpu='1')):
            self.assertEqual([], cfg.vcpu_list)
            self.assertNotIn('<vcpus>', cfg.to_xml())

    def test_topology_covers_the_maximum(self):
        # every vCPU up to the flavor's vcpus must be hot-pluggable
        cfg = self._config(minimum_cpu='1')
        topology = cfg.cpu.sockets * cfg.cpu.cores * cfg.cpu.threads
        self.assertEqual(4, topology)

    def test_balloon_is_a_hard_limit(self):
        # upstream's balloon lets the guest deflate it under memory
        # pressure; a guest held below its memory must not
        # (nova 31 never writes autodeflate, which libvirt then leaves
        # off; later releases write it "on" for every guest)
        plain = self._balloons(self._config())[0]
        self.assertFalse(self._held(plain))
        [balloon] = self._balloons(self._config(minimum_memory='512'))
        self.assertTrue(self._held(balloon))
        self.assertNotIn('autodeflate="on"', balloon.to_xml())
        if 'autodeflate=' in plain.to_xml():
            self.assertIn('autodeflate="on"', plain.to_xml())
            self.assertIn('autodeflate="off"', balloon.to_xml())

    def test_balloon_held_when_booting_at_the_maximum(self):
        # an adjust persisted the maximum: it boots there, and can still be
        # shrunk live, so the balloon stays a hard limit
        instance_sysmeta = {'xloud_memory_mb': '2048', 'xloud_flavorid': 'x1'}
        cfg = self._config(minimum_memory='512', sysmeta=instance_sysmeta)
        self.assertIsNone(cfg.current_memory)
        self.assertTrue(self._held(self._balloons(cfg)[0]))

    def test_balloon_even_without_stats(self):
        self.flags(mem_stats_period_seconds=0, group='libvirt')
        self.assertEqual('none', self._balloons(self._config())[0].model)
        cfg = self._config(minimum_memory='512')
        [balloon] = self._balloons(cfg)
        self.assertEqual('virtio', balloon.model)
        self.assertIsNone(balloon.period)
        self.assertNotIn('<stats', balloon.to_xml())

    def test_held_balloon_keeps_what_the_driver_set(self):
        guest = xloud_guest.ConfigGuest()
        balloon = vconfig.LibvirtConfigMemoryBalloon()
        balloon.model = 'virtio'
        balloon.period = 10
        balloon.driver_iommu = True  # as an encrypted guest's would be
        guest.add_device(balloon)
        xloud._hold_balloon(guest)
        [held] = guest.devices
        self.assertIsInstance(held, xloud_guest.ConfigMemoryBalloon)
        self.assertEqual(('virtio', 10, True),
                         (held.model, held.period, held.driver_iommu))
        self.assertTrue(self._held(held))

    def test_minimum_equal_to_maximum_changes_nothing(self):
        cfg = self._config(minimum_cpu='4', minimum_memory='2048')
        self.assertIsNone(cfg.vcpus_current)
        self.assertIsNone(cfg.current_memory)
        self.assertFalse(self._held(self._balloons(cfg)[0]))

    def test_cpu_only(self):
        cfg = self._config(minimum_cpu='3')
        self.assertEqual(3, cfg.vcpus_current)
        self.assertIsNone(cfg.current_memory)

    def test_image_conflict_boots_at_maximum(self):
        # the API refuses such a boot; older servers keep working
        cfg = self._config(image_props={'hw_mem_page_size': 'large'},
                           minimum_memory='1024', minimum_cpu='2')
        self.assertIsNone(cfg.current_memory)
        self.assertEqual(2, cfg.vcpus_current)

    def test_virt_type_without_hotplug(self):
        self.flags(virt_type='lxc', group='libvirt')
        self.drvr = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), True)
        self.assertRaises(xloud.XloudGuestUnsupported, self._config,
                          minimum_cpu='2')
