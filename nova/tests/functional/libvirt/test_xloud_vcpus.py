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

"""Every domain of a minimum_cpu flavor lists hot-pluggable vCPUs.

libvirt makes each vCPU online at boot a boot vCPU, which it refuses to
unplug, unless the domain lists its vCPUs (``<vcpus>``). The XML the driver
defines is read here as it reaches (fake) libvirt: on a fresh boot, after a
hard reboot at a persisted grown size, and after a move. A flavor without
the minimum keeps upstream's XML byte for byte.
"""

import re
from unittest import mock

import fixtures
from lxml import etree

from nova import context as nova_context
from nova import objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_xloud_adjust
from nova.tests.functional.libvirt import test_xloud_minimum
from nova.virt.libvirt import blockinfo
from nova.virt.libvirt import xloud


class VcpusListedTest(test_xloud_minimum.TwoHostsMixin,
                      test_xloud_adjust.XloudAdjustTestBase):

    def setUp(self):
        super().setUp()
        self.defined = []
        define = fakelibvirt.Connection.defineXML

        def spy(conn, xml):
            self.defined.append(xml)
            return define(conn, xml)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Connection.defineXML', spy))

    def _vcpus(self):
        """(current, [(enabled, hotpluggable)]) of the last domain defined."""
        doc = etree.fromstring(self.defined[-1])
        return (doc.find('vcpu').get('current'),
                [(v.get('enabled'), v.get('hotpluggable'))
                 for v in doc.findall('./vcpus/vcpu')])

    def test_boot_reboot_and_move(self):
        server = self._create_server(flavor_id=self.flavor, host='src',
                                     networks='none')
        # the minimum's vCPU boots; the others can be plugged and unplugged
        self.assertEqual(
            ('1', [('yes', 'no'), ('no', 'yes'), ('no', 'yes'),
                   ('no', 'yes')]),
            self._vcpus())
        self._adjust(server, current_vcpus=3, persist=True)
        # a hard reboot regenerates the domain at the persisted size: the
        # grown vCPUs are online at boot, and still hot-pluggable
        self._reboot_server(server, hard=True)
        grown = ('3', [('yes', 'no'), ('yes', 'yes'), ('yes', 'yes'),
                       ('no', 'yes')])
        self.assertEqual(grown, self._vcpus())
        # and so after a move
        with mock.patch('nova.virt.libvirt.driver.LibvirtDriver'
                        '.migrate_disk_and_power_off', return_value='{}'):
            server = self._migrate_server(server)
        server = self._confirm_resize(server)
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(grown, self._vcpus())
        self.assertEqual(3, self._allocation(server)['VCPU'])

    def test_plain_flavor_is_upstream(self):
        server = self._create_server(flavor_id=self._flavor(), host='src',
                                     networks='none')
        self.assertNotIn('<vcpus>', self.defined[-1])
        self.assertIn('<vcpu>4</vcpu>', self.defined[-1])
        # what the driver generates, with and without our hook
        ctxt = nova_context.get_admin_context()
        instance = objects.Instance.get_by_uuid(ctxt, server['id'])
        image_meta = objects.ImageMeta.from_instance(instance)
        driver = self.computes['src'].driver

        def xml():
            disk_info = blockinfo.get_disk_info('kvm', instance, image_meta)
            generated = driver._get_guest_xml(ctxt, instance, [], disk_info,
                                              image_meta)
            return re.sub(r'<nova:creationTime>[^<]*</nova:creationTime>',
                          '', generated)
        ours = xml()
        with mock.patch.object(xloud, 'configure_guest') as hook:
            upstream = xml()
        hook.assert_called_once()
        self.assertEqual(upstream, ours)
        # a minimum_memory-only flavor changes the memory, not the vCPUs
        server = self._create_server(
            flavor_id=self._flavor(minimum_memory='512'), host='src',
            networks='none')
        self.assertEqual((None, []), self._vcpus())
