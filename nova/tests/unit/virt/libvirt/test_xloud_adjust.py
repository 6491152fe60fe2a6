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

"""Live vCPU and memory changes of a libvirt guest."""

from unittest import mock

import ddt
from oslo_utils.fixture import uuidsentinel as uuids
from oslo_utils import units

from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import xloud
from nova.xloud import sizing

LIVE = fakelibvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = fakelibvirt.VIR_DOMAIN_AFFECT_CONFIG

_XML = """<domain type='kvm'>
  <name>instance-00000001</name>
  <uuid>%(uuid)s</uuid>
  <memory>2097152</memory>
  <currentMemory>%(memory_kib)d</currentMemory>
  <vcpu current='%(vcpus)d'>4</vcpu>
  <os><type>hvm</type></os>
</domain>"""


def _xml(vcpus, memory_mb):
    return _XML % {'uuid': uuids.instance, 'vcpus': vcpus,
                   'memory_kib': memory_mb * units.Ki}


def _libvirt_error(msg='internal error'):
    return fakelibvirt.make_libvirtError(
        fakelibvirt.libvirtError, msg,
        error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR)


class _Base(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(nova_fixtures.LibvirtFixture())
        self.domain = mock.Mock(spec=fakelibvirt.virDomain)
        self.guest = libvirt_guest.Guest(self.domain)


@ddt.ddt
class GuestSetSizeTestCase(_Base):

    @ddt.data(({}, 0), ({'persistent': True}, CONFIG), ({'live': True}, LIVE),
              ({'persistent': True, 'live': True}, CONFIG | LIVE))
    @ddt.unpack
    def test_set_vcpus(self, kwargs, flags):
        self.guest.set_vcpus(3, **kwargs)
        self.domain.setVcpusFlags.assert_called_once_with(3, flags)

    @ddt.data(({}, 0), ({'persistent': True}, CONFIG), ({'live': True}, LIVE),
              ({'persistent': True, 'live': True}, CONFIG | LIVE))
    @ddt.unpack
    def test_set_memory(self, kwargs, flags):
        self.guest.set_memory(units.Mi, **kwargs)
        self.domain.setMemoryFlags.assert_called_once_with(units.Mi, flags)


@ddt.ddt
class AdjustTestCase(_Base):

    def setUp(self):
        super().setUp()
        flavor = objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                extra_specs={'minimum_cpu': '1',
                                             'minimum_memory': '512'})
        self.instance = objects.Instance(uuid=uuids.instance, flavor=flavor,
                                         system_metadata={})
        # the running guest and its definition, as libvirt reports them
        self.xml = {0: _xml(3, 1536),
                    fakelibvirt.VIR_DOMAIN_XML_INACTIVE: _xml(1, 512)}
        self.domain.XMLDesc.side_effect = lambda flags: self.xml[flags]

    def _adjust(self, running, persist, vcpus=3, memory_mb=1536):
        self.domain.isActive.return_value = int(running)
        return xloud.adjust(self.guest, self.instance, vcpus, memory_mb,
                            persist)

    @ddt.data((True, LIVE | CONFIG), (False, LIVE))
    @ddt.unpack
    def test_running(self, persist, flags):
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536},
                         self._adjust(running=True, persist=persist))
        self.domain.setVcpusFlags.assert_called_once_with(3, flags)
        self.domain.setMemoryFlags.assert_called_once_with(
            1536 * units.Ki, flags)
        # what the running guest has
        self.domain.XMLDesc.assert_called_once_with(0)

    @ddt.data(True, False)
    def test_stopped_changes_the_definition(self, persist):
        self.xml[fakelibvirt.VIR_DOMAIN_XML_INACTIVE] = _xml(2, 1024)
        self.assertEqual(
            {'vcpus': 2, 'memory_mb': 1024},
            self._adjust(running=False, persist=persist, vcpus=2,
                         memory_mb=1024))
        self.domain.setVcpusFlags.assert_called_once_with(2, CONFIG)
        self.domain.setMemoryFlags.assert_called_once_with(
            1024 * units.Ki, CONFIG)
        self.domain.XMLDesc.assert_called_once_with(
            flags=fakelibvirt.VIR_DOMAIN_XML_INACTIVE)

    def test_guest_at_its_maximum(self):
        # no current= and no smaller currentMemory: the maximum
        self.xml[0] = _xml(4, 2048).replace(" current='4'", '')
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         self._adjust(running=True, persist=True, vcpus=4,
                                      memory_mb=2048))

    def test_vcpus_failure_carries_what_the_guest_has(self):
        # libvirt's vCPU count, the recorded balloon target
        self.instance.system_metadata = {
            sizing.SYSMETA_FLAVOR: 'xl', sizing.SYSMETA_LIVE_VCPUS: '1',
            sizing.SYSMETA_LIVE_MEMORY_MB: '1024'}
        self.xml[0] = _xml(2, 1000)
        self.domain.setVcpusFlags.side_effect = _libvirt_error('no hotplug')
        exc = self.assertRaises(sizing.XloudAdjustFailed, self._adjust,
                                running=True, persist=True)
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024}, exc.live)
        self.assertIn('no hotplug', str(exc))
        self.domain.setMemoryFlags.assert_not_called()

    def test_memory_failure_after_vcpus(self):
        # the vCPUs were hot-plugged, the balloon target was not moved
        self.instance.system_metadata = {
            sizing.SYSMETA_FLAVOR: 'xl', sizing.SYSMETA_LIVE_VCPUS: '2',
            sizing.SYSMETA_LIVE_MEMORY_MB: '1024'}
        self.xml[0] = _xml(3, 1000)
        self.domain.setMemoryFlags.side_effect = _libvirt_error()
        exc = self.assertRaises(sizing.XloudAdjustFailed, self._adjust,
                                running=True, persist=False)
        self.assertEqual({'vcpus': 3, 'memory_mb': 1024}, exc.live)

    def test_memory_is_the_balloon_target(self):
        # libvirt's live currentMemory is where the balloon is on its way;
        # the guest gets the target, and that is what placement charges
        self.xml[0] = _xml(3, 700)
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536},
                         self._adjust(running=True, persist=True))

    def test_partial_hotplug_reports_what_libvirt_has(self):
        self.xml[0] = _xml(2, 1536)
        self.assertEqual({'vcpus': 2, 'memory_mb': 1536},
                         self._adjust(running=True, persist=True))

    def test_failure_on_a_stopped_guest_reads_the_definition(self):
        self.domain.setVcpusFlags.side_effect = _libvirt_error()
        exc = self.assertRaises(sizing.XloudAdjustFailed, self._adjust,
                                running=False, persist=True)
        self.assertEqual({'vcpus': 1, 'memory_mb': 512}, exc.live)

    @mock.patch.object(xloud.LOG, 'exception')
    def test_failure_without_read_back_uses_the_record(self, mock_log):
        self.domain.setVcpusFlags.side_effect = _libvirt_error()
        self.domain.XMLDesc.side_effect = _libvirt_error('domain gone')
        self.instance.system_metadata = {
            sizing.SYSMETA_FLAVOR: 'xl', sizing.SYSMETA_LIVE_VCPUS: '2',
            sizing.SYSMETA_LIVE_MEMORY_MB: '768'}
        exc = self.assertRaises(sizing.XloudAdjustFailed, self._adjust,
                                running=True, persist=True)
        self.assertEqual({'vcpus': 2, 'memory_mb': 768}, exc.live)
        mock_log.assert_called_once()
