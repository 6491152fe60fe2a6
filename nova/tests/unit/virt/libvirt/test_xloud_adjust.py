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
import fixtures
from lxml import etree
from oslo_utils.fixture import uuidsentinel as uuids
from oslo_utils import units

from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import xloud
from nova.virt.libvirt import xloud_guest
from nova.xloud import records

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
        self.guest = xloud_guest.Guest(self.domain)


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

    @ddt.data(({}, [0]), ({'persistent': True}, [CONFIG]),
              ({'live': True}, [LIVE]),
              ({'persistent': True, 'live': True}, [CONFIG, LIVE]))
    @ddt.unpack
    def test_set_memory_hard_limit(self, kwargs, flags):
        # libvirt-python cannot take both flags at once for this call
        self.guest.set_memory_hard_limit(units.Mi, **kwargs)
        self.assertEqual(
            [mock.call({'hard_limit': units.Mi}, f) for f in flags],
            self.domain.setMemoryParameters.call_args_list)


@ddt.ddt
class AdjustTestCase(_Base):

    def setUp(self):
        super().setUp()
        flavor = objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                extra_specs={'minimum_cpu': '1',
                                             'minimum_memory': '512'})
        # booted by XLoud at the minimum, and recorded so
        self.instance = objects.Instance(
            uuid=uuids.instance, flavor=flavor, image_ref=uuids.image,
            system_metadata={
                records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_VCPUS: '1',
                records.SYSMETA_MEMORY_MB: '512',
                records.SYSMETA_LIVE_VCPUS: '1',
                records.SYSMETA_LIVE_MEMORY_MB: '512'})
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
        # what the running guest has, before and after
        self.assertEqual([mock.call(flags=0)] * 2,
                         self.domain.XMLDesc.call_args_list)

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
        self.assertEqual(
            [mock.call(flags=fakelibvirt.VIR_DOMAIN_XML_INACTIVE)] * 2,
            self.domain.XMLDesc.call_args_list)

    def test_guest_at_its_maximum(self):
        # no current= and no smaller currentMemory: the maximum
        self.xml[0] = _xml(4, 2048).replace(" current='4'", '')
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         self._adjust(running=True, persist=True, vcpus=4,
                                      memory_mb=2048))

    def test_vcpus_failure_carries_what_the_guest_has(self):
        # libvirt's vCPU count, the recorded balloon target
        self.instance.system_metadata = {
            records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '1',
            records.SYSMETA_LIVE_MEMORY_MB: '1024'}
        self.xml[0] = _xml(2, 1000)
        self.domain.setVcpusFlags.side_effect = _libvirt_error('no hotplug')
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust,
                                running=True, persist=True)
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024}, exc.live)
        self.assertIn('no hotplug', str(exc))
        self.domain.setMemoryFlags.assert_not_called()

    def test_memory_failure_after_vcpus(self):
        # the vCPUs were hot-plugged, the balloon target was not moved
        self.instance.system_metadata = {
            records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '2',
            records.SYSMETA_LIVE_MEMORY_MB: '1024'}
        self.xml[0] = _xml(3, 1000)
        self.domain.setMemoryFlags.side_effect = _libvirt_error()
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust,
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
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust,
                                running=False, persist=True)
        self.assertEqual({'vcpus': 1, 'memory_mb': 512}, exc.live)

    @mock.patch.object(xloud.LOG, 'exception')
    def test_failure_without_read_back_uses_the_record(self, mock_log):
        self.domain.setVcpusFlags.side_effect = _libvirt_error()
        self.domain.XMLDesc.side_effect = _libvirt_error('domain gone')
        self.instance.system_metadata = {
            records.SYSMETA_FLAVOR: 'xl', records.SYSMETA_LIVE_VCPUS: '2',
            records.SYSMETA_LIVE_MEMORY_MB: '768'}
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust,
                                running=True, persist=True)
        self.assertEqual({'vcpus': 2, 'memory_mb': 768}, exc.live)
        mock_log.assert_called_once()


@ddt.ddt
class MemoryLimitTestCase(_Base):
    """The memory hard limit moves with the balloon, in a safe order."""

    def setUp(self):
        super().setUp()
        self.flags(memory_overhead_mb=100, group='xloud')
        self.useFixture(fixtures.MockPatchObject(xloud, 'BALLOON_POLL', 0))
        self.flavor = objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                     extra_specs={'minimum_memory': '512'})
        self.instance = objects.Instance(
            uuid=uuids.instance, flavor=self.flavor, image_ref=uuids.image,
            system_metadata={records.SYSMETA_FLAVOR: 'xl',
                             records.SYSMETA_LIVE_MEMORY_MB: '1024'})
        # the balloon where the record says, then wherever a test moves it
        self.live = [_xml(1, 1024)]
        self.domain.XMLDesc.side_effect = self._xml_desc
        self.domain.isActive.return_value = 1

    def _xml_desc(self, flags):
        if flags:
            return _xml(1, 512)
        return self.live.pop(0) if len(self.live) > 1 else self.live[0]

    def _calls(self):
        """The changing calls, in order: (what, value KiB, flags)."""
        calls = []
        for name, args, _kwargs in self.domain.mock_calls:
            if name == 'setMemoryFlags':
                calls.append(('balloon', args[0], args[1]))
            elif name == 'setMemoryParameters':
                calls.append(('limit', args[0]['hard_limit'], args[1]))
        return calls

    def _adjust(self, memory_mb, persist=False):
        return xloud.adjust(self.guest, self.instance, 1, memory_mb, persist)

    def test_grow_raises_the_limit_first(self):
        self.assertEqual({'vcpus': 1, 'memory_mb': 1536},
                         self._adjust(1536))
        self.assertEqual([('limit', (1536 + 100) * units.Ki, LIVE),
                          ('balloon', 1536 * units.Ki, LIVE)],
                         self._calls())

    def test_grow_persisted_sets_the_definition_too(self):
        self._adjust(1536, persist=True)
        self.assertEqual([('limit', (1536 + 100) * units.Ki, CONFIG),
                          ('limit', (1536 + 100) * units.Ki, LIVE),
                          ('balloon', 1536 * units.Ki, LIVE | CONFIG)],
                         self._calls())

    @ddt.data(True, False)
    def test_shrink_lowers_the_limit_once_the_balloon_is_there(self,
                                                               persist):
        # the balloon takes two looks to get down to 768 MiB
        self.live = [_xml(1, 1024), _xml(1, 1000), _xml(1, 900),
                     _xml(1, 768)]
        self.assertEqual({'vcpus': 1, 'memory_mb': 768},
                         self._adjust(768, persist=persist))
        expected = [('balloon', 768 * units.Ki,
                     LIVE | CONFIG if persist else LIVE)]
        if persist:
            expected.append(('limit', (768 + 100) * units.Ki, CONFIG))
        expected.append(('limit', (768 + 100) * units.Ki, LIVE))
        self.assertEqual(expected, self._calls())
        self.assertEqual([], self.live[:-1])  # it waited for the balloon

    def test_every_limit_records_its_overhead(self):
        self.live = [_xml(1, 1024), _xml(1, 768)]
        self._adjust(768, persist=True)
        limits = [flags for what, _v, flags in self._calls()
                  if what == 'limit']
        recorded = []
        for args, kwargs in self.domain.setMetadata.call_args_list:
            element = etree.fromstring(args[1])
            # no namespace: libvirt adds it, and refuses one declared
            self.assertEqual('limit', element.tag)
            self.assertEqual(
                (fakelibvirt.VIR_DOMAIN_METADATA_ELEMENT, 'xloud',
                 xloud.METADATA_NS), (args[0],) + args[2:])
            recorded.append((element.get('overhead_mib'), kwargs['flags']))
        self.assertEqual([('100', flags) for flags in limits], recorded)

    @mock.patch.object(xloud.LOG, 'warning')
    def test_overhead_not_recorded_keeps_the_adjust(self, mock_log):
        self.domain.setMetadata.side_effect = _libvirt_error()
        self.assertEqual({'vcpus': 1, 'memory_mb': 1536},
                         self._adjust(1536))
        mock_log.assert_called_once()

    @mock.patch.object(xloud, 'BALLOON_TIMEOUT', 0)
    def test_shrink_the_guest_refuses(self):
        # a guest without its balloon driver keeps its memory: it keeps its
        # limit, and the adjust fails with what it can still use
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 768,
                                persist=True)
        self.assertEqual({'vcpus': 1, 'memory_mb': 1024}, exc.live)
        self.assertIn('did not give its memory back', str(exc))
        self.assertEqual([('balloon', 768 * units.Ki, LIVE | CONFIG),
                          ('limit', (768 + 100) * units.Ki, CONFIG)],
                         self._calls())

    def test_shrink_libvirt_refuses_the_limit(self):
        # e.g. the cgroup cannot reclaim down to it (EBUSY)
        self.live = [_xml(1, 1024), _xml(1, 768)]
        self.domain.setMemoryParameters.side_effect = _libvirt_error(
            'Device or resource busy')
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 768)
        self.assertEqual(1024, exc.live['memory_mb'])

    def test_grow_limit_refused_leaves_the_balloon(self):
        self.domain.setMemoryParameters.side_effect = _libvirt_error()
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 1536)
        self.assertEqual(1024, exc.live['memory_mb'])
        self.domain.setMemoryFlags.assert_not_called()

    def test_grow_balloon_refused_restores_the_limit(self):
        self.domain.setMemoryFlags.side_effect = _libvirt_error()
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 1536)
        self.assertEqual(1024, exc.live['memory_mb'])
        self.assertEqual([('limit', (1536 + 100) * units.Ki, LIVE),
                          ('balloon', 1536 * units.Ki, LIVE),
                          ('limit', (1024 + 100) * units.Ki, LIVE)],
                         self._calls())

    @mock.patch.object(xloud.LOG, 'exception')
    def test_grow_limit_stuck_high_is_reported(self, mock_log):
        # the guest may now use what the raised limit allows
        self.domain.setMemoryFlags.side_effect = _libvirt_error()
        self.domain.setMemoryParameters.side_effect = [None,
                                                       _libvirt_error()]
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 1536)
        self.assertEqual(1536, exc.live['memory_mb'])
        mock_log.assert_called_once()

    def test_balloon_above_the_record_counts(self):
        # a balloon still above the recorded size is what the guest has:
        # going below the record's size waits for it
        self.live = [_xml(1, 1400), _xml(1, 768)]
        self._adjust(768)
        self.assertEqual(['balloon', 'limit'],
                         [what for what, _v, _f in self._calls()])

    def test_vcpu_only_adjust_leaves_the_memory(self):
        # right after a boot the balloon is still on its way down to the
        # recorded size, which the limit already holds the guest to: an
        # adjust of the vCPUs alone does not wait for it
        self.live = [_xml(1, 1400)]
        with mock.patch.object(xloud, '_balloon_at') as balloon_at:
            self.assertEqual({'vcpus': 1, 'memory_mb': 1024},
                             self._adjust(1024))
        balloon_at.assert_not_called()
        self.assertEqual([], self._calls())

    def test_vcpu_only_adjust_persists_the_memory(self):
        self.live = [_xml(1, 1400)]
        self.assertEqual({'vcpus': 1, 'memory_mb': 1024},
                         self._adjust(1024, persist=True))
        # the definition only
        self.assertEqual([('limit', (1024 + 100) * units.Ki, CONFIG),
                          ('balloon', 1024 * units.Ki, CONFIG)],
                         self._calls())

    def test_stopped_guest_changes_the_definition(self):
        self.domain.isActive.return_value = 0
        self.assertEqual({'vcpus': 1, 'memory_mb': 512}, self._adjust(512))
        self.assertEqual([('balloon', 512 * units.Ki, CONFIG),
                          ('limit', (512 + 100) * units.Ki, CONFIG)],
                         self._calls())

    def test_no_memory_minimum_no_limit(self):
        self.flavor.extra_specs = {'minimum_cpu': '1'}
        self._adjust(2048)
        self.domain.setMemoryParameters.assert_not_called()

    def test_image_conflict_no_limit(self):
        self.instance.system_metadata['image_hw_mem_page_size'] = 'large'
        self._adjust(2048)
        self.domain.setMemoryParameters.assert_not_called()


class SizesTestCase(test.NoDBTestCase):
    """What the driver reads back to resolve and follow a guest."""

    XML = """<domain type='kvm'>
  <name>instance-1</name>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>%(current)d</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  %(memtune)s
  %(metadata)s
</domain>"""

    def _sizes(self, current_kib, limit_kib=None, running=True,
               metadata=''):
        memtune = ('<memtune><hard_limit unit="KiB">%d</hard_limit>'
                   '</memtune>' % limit_kib) if limit_kib else ''
        guest = mock.Mock()
        guest.is_active.return_value = running
        guest.get_xml_desc.return_value = self.XML % {
            'current': current_kib, 'memtune': memtune,
            'metadata': metadata}
        result = xloud.sizes(guest)
        guest.get_xml_desc.assert_called_once_with(dump_inactive=not running)
        return result

    def test_running(self):
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         self._sizes(1024 * 1024))

    def test_balloon_still_inflating_after_boot(self):
        # the balloon is still at 1024 MiB on its way to 512, but the hard
        # limit (512 + the 256 MiB overhead) already holds the guest there
        self.flags(memory_overhead_mb=256, group='xloud')
        self.assertEqual({'vcpus': 2, 'memory_mb': 512},
                         self._sizes(1024 * 1024, limit_kib=768 * 1024))

    def test_limit_above_the_balloon(self):
        self.flags(memory_overhead_mb=256, group='xloud')
        self.assertEqual({'vcpus': 2, 'memory_mb': 512},
                         self._sizes(512 * 1024, limit_kib=1024 * 1024))

    def test_limit_read_with_the_overhead_it_was_set_with(self):
        # set with 256 MiB of overhead; the option has since been raised:
        # the guest still has 1536 MiB, not 1280
        self.flags(memory_overhead_mb=512, group='xloud')
        metadata = ('<metadata><xloud:limit xmlns:xloud="%s" '
                    'overhead_mib="256"/></metadata>' % xloud.METADATA_NS)
        self.assertEqual({'vcpus': 2, 'memory_mb': 1536},
                         self._sizes(1536 * 1024, limit_kib=1792 * 1024,
                                     metadata=metadata))
        # and while the balloon is still on its way down to it
        self.assertEqual({'vcpus': 2, 'memory_mb': 1536},
                         self._sizes(2048 * 1024, limit_kib=1792 * 1024,
                                     metadata=metadata))

    def test_stopped_guest_is_its_definition(self):
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         self._sizes(1024 * 1024, limit_kib=768 * 1024,
                                     running=False))

    def test_rounded_up_to_whole_mib(self):
        self.assertEqual(513, self._sizes(512 * 1024 + 1)['memory_mb'])


_CAPPED = """<domain type='kvm'>
  <name>instance-1</name>
  <uuid>%(uuid)s</uuid>
  <memory>2097152</memory>
  <currentMemory>1048576</currentMemory>
  <vcpu current='%(vcpus)d'>4</vcpu>
  <cputune>%(cputune)s</cputune>
  <devices>%(channel)s</devices>
</domain>"""
_AGENT = ("<channel type='unix'><target type='virtio' "
          "name='org.qemu.guest_agent.0'%s/></channel>")


def _capped_xml(vcpus, cap=None, agent=True, state=None):
    cputune = ('<global_period>100000</global_period><global_quota>%d'
               '</global_quota>' % (cap * 100000) if cap else '')
    channel = _AGENT % (" state='%s'" % state if state else '')
    return _CAPPED % {'uuid': uuids.instance, 'vcpus': vcpus,
                      'cputune': cputune, 'channel': channel if agent else ''}


class VcpuShrinkTestCase(_Base):
    """A shrink is cooperative, and capped when the unplug cannot finish."""

    GUEST = fakelibvirt.VIR_DOMAIN_VCPU_GUEST

    def setUp(self):
        super().setUp()
        flavor = objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                                extra_specs={'minimum_cpu': '1'})
        self.instance = objects.Instance(
            uuid=uuids.instance, flavor=flavor, image_ref=uuids.image,
            system_metadata={records.SYSMETA_FLAVOR: 'xl',
                             records.SYSMETA_LIVE_VCPUS: '3'})
        self.domain.isActive.return_value = 1
        # the live XML before and after the change
        self.live = [_capped_xml(3)]
        self.domain.XMLDesc.side_effect = lambda flags: (
            self.live.pop(0) if len(self.live) > 1 else self.live[0])

    def _adjust(self, vcpus, persist=False):
        return xloud.adjust(self.guest, self.instance, vcpus, 2048, persist)

    def _calls(self):
        return [(name, args) for name, args, _kw in self.domain.mock_calls
                if name in ('setVcpusFlags', 'setSchedulerParametersFlags')]

    def test_agent_offlines_then_unplug(self):
        self.live = [_capped_xml(3), _capped_xml(1)]
        self.assertEqual({'vcpus': 1, 'memory_mb': 2048}, self._adjust(1))
        self.assertEqual([('setVcpusFlags', (1, self.GUEST)),
                          ('setVcpusFlags', (1, LIVE))], self._calls())

    def test_without_agent_only_unplug(self):
        self.live = [_capped_xml(3, agent=False), _capped_xml(1)]
        self.assertEqual({'vcpus': 1, 'memory_mb': 2048}, self._adjust(1))
        self.assertEqual([('setVcpusFlags', (1, LIVE))], self._calls())

    def test_unplug_that_cannot_finish_is_capped(self):
        self.domain.setVcpusFlags.side_effect = [
            None, _libvirt_error('vcpu unplug request timed out')]
        self.assertEqual({'vcpus': 1, 'vcpus_plugged': 3, 'memory_mb': 2048},
                         self._adjust(1))
        self.assertEqual(
            [('setVcpusFlags', (1, self.GUEST)),
             ('setVcpusFlags', (1, LIVE)),
             ('setSchedulerParametersFlags',
              ({'global_period': 100000, 'global_quota': 100000}, LIVE))],
            self._calls())

    def test_unplug_that_cannot_finish_persists_the_definition(self):
        self.domain.setVcpusFlags.side_effect = [
            None, _libvirt_error('vcpu unplug request timed out'), None]
        self._adjust(2, persist=True)
        self.assertEqual(
            [('setVcpusFlags', (2, self.GUEST)),
             ('setVcpusFlags', (2, LIVE | CONFIG)),
             ('setVcpusFlags', (2, CONFIG)),
             ('setSchedulerParametersFlags',
              ({'global_period': 100000, 'global_quota': 200000}, LIVE))],
            self._calls())

    def test_agent_calls_wait_at_most_the_agent_timeout(self):
        self.flags(agent_timeout=7, group='xloud')
        self.live = [_capped_xml(3), _capped_xml(1)]
        self._adjust(1)
        names = [name for name, _a, _k in self.domain.mock_calls
                 if name in ('agentSetResponseTimeout', 'setVcpusFlags')]
        self.assertEqual(['agentSetResponseTimeout', 'setVcpusFlags',
                          'agentSetResponseTimeout', 'setVcpusFlags'], names)
        # set for the agent call, then back to libvirt's default (-1) for
        # every other agent call of the domain
        self.assertEqual([mock.call(7, 0), mock.call(-1, 0)],
                         self.domain.agentSetResponseTimeout.call_args_list)

    def test_agent_that_does_not_answer_fails_the_shrink(self):
        self.flags(agent_timeout=7, group='xloud')
        self.domain.setVcpusFlags.side_effect = fakelibvirt.make_libvirtError(
            fakelibvirt.libvirtError,
            'Guest agent is not responding: Guest agent not available for '
            'now', error_code=fakelibvirt.VIR_ERR_AGENT_UNRESPONSIVE)
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 1)
        # nothing was unplugged or capped: the guest keeps its 3 vCPUs, and
        # the fault says why
        self.assertEqual(3, exc.live['vcpus'])
        self.assertEqual([('setVcpusFlags', (1, self.GUEST))], self._calls())
        self.assertIn('the guest agent did not answer within 7 s',
                      str(exc))
        self.assertIn('runs with 3 vCPUs', str(exc))
        self.assertEqual(mock.call(-1, 0),
                         self.domain.agentSetResponseTimeout.call_args)

    def test_agent_the_guest_does_not_listen_on_is_not_called(self):
        self.live = [_capped_xml(3, state='disconnected'), _capped_xml(1)]
        self.assertEqual({'vcpus': 1, 'memory_mb': 2048}, self._adjust(1))
        self.assertEqual([('setVcpusFlags', (1, LIVE))], self._calls())
        self.domain.agentSetResponseTimeout.assert_not_called()

    def test_agent_failure_still_unplugs(self):
        self.live = [_capped_xml(3), _capped_xml(1)]
        self.domain.setVcpusFlags.side_effect = [
            _libvirt_error('agent not responding'), None]
        self.assertEqual({'vcpus': 1, 'memory_mb': 2048}, self._adjust(1))

    def test_cap_refused_fails_with_what_the_guest_has(self):
        self.domain.setVcpusFlags.side_effect = [
            None, _libvirt_error('vcpu unplug request timed out')]
        self.domain.setSchedulerParametersFlags.side_effect = (
            _libvirt_error('no cpu controller'))
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 1)
        # the allocation stays with what the guest can use
        self.assertEqual(3, exc.live['vcpus'])
        self.assertIn('no cpu controller', str(exc))

    def test_grow_within_the_cap_raises_it(self):
        self.instance.system_metadata[records.SYSMETA_LIVE_VCPUS] = '1'
        self.live = [_capped_xml(3, cap=1)]
        self.domain.setVcpusFlags.side_effect = [
            None, _libvirt_error('vcpu unplug request timed out')]
        self.assertEqual({'vcpus': 2, 'vcpus_plugged': 3, 'memory_mb': 2048},
                         self._adjust(2))
        self.assertEqual(
            ('setSchedulerParametersFlags',
             ({'global_period': 100000, 'global_quota': 200000}, LIVE)),
            self._calls()[-1])

    def test_grow_to_what_it_has_lifts_the_cap(self):
        self.instance.system_metadata[records.SYSMETA_LIVE_VCPUS] = '1'
        self.live = [_capped_xml(3, cap=1), _capped_xml(3)]
        self.assertEqual({'vcpus': 3, 'memory_mb': 2048}, self._adjust(3))
        self.assertEqual(
            [('setVcpusFlags', (3, LIVE)),
             ('setSchedulerParametersFlags', ({'global_quota': -1}, LIVE)),
             # and the CPUs the agent took offline come back
             ('setVcpusFlags', (3, self.GUEST))],
            self._calls())

    def test_grow_is_not_capped(self):
        self.live = [_capped_xml(1), _capped_xml(3)]
        self.assertEqual({'vcpus': 3, 'memory_mb': 2048}, self._adjust(3))
        self.assertEqual([('setVcpusFlags', (3, LIVE))], self._calls())

    def test_grow_failure_raises(self):
        self.live = [_capped_xml(1)]
        self.domain.setVcpusFlags.side_effect = _libvirt_error('no hotplug')
        exc = self.assertRaises(records.XloudAdjustFailed, self._adjust, 3)
        self.assertEqual(1, exc.live['vcpus'])

    def test_sizes_of_a_capped_guest(self):
        guest = mock.Mock()
        guest.is_active.return_value = True
        guest.get_xml_desc.return_value = _capped_xml(3, cap=1)
        self.assertEqual({'vcpus': 1, 'vcpus_plugged': 3, 'memory_mb': 1024},
                         xloud.sizes(guest))
        # a cap at or above what it has changes nothing
        guest.get_xml_desc.return_value = _capped_xml(3, cap=4)
        self.assertEqual({'vcpus': 3, 'memory_mb': 1024}, xloud.sizes(guest))


@ddt.ddt
class GuestSchedulerTestCase(_Base):

    @ddt.data(({'guest': True}, fakelibvirt.VIR_DOMAIN_VCPU_GUEST),
              ({'live': True}, LIVE))
    @ddt.unpack
    def test_set_vcpus_guest(self, kwargs, flags):
        self.guest.set_vcpus(2, **kwargs)
        self.domain.setVcpusFlags.assert_called_once_with(2, flags)

    @ddt.data(({}, [0]), ({'live': True}, [LIVE]),
              ({'persistent': True, 'live': True}, [CONFIG, LIVE]))
    @ddt.unpack
    def test_set_scheduler_parameters(self, kwargs, flags):
        self.guest.set_scheduler_parameters({'global_quota': 1}, **kwargs)
        self.assertEqual(
            [mock.call({'global_quota': 1}, f) for f in flags],
            self.domain.setSchedulerParametersFlags.call_args_list)
