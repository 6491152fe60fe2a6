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

"""What XLoud adds to upstream's libvirt guest and its config objects.

Subclasses, so that upstream's own files stay as they are:

* :class:`Guest`: the setters an adjust needs (vCPUs, memory, the memory
  hard limit, the CPU cap), with the persistent/live flag idiom of
  ``Guest.attach_device()``;
* :class:`ConfigGuest`: a domain's ``<vcpu current='N'>``,
  ``<currentMemory>`` and ``<vcpus>`` list, formatted only when set (so
  the XML of a guest without them is upstream's, byte for byte) and
  parsed back, so a config read from libvirt round-trips;
* :class:`ConfigGuestVCPU`: one vCPU of ``<vcpus>``;
* :class:`ConfigMemoryBalloon`: a balloon that does not deflate on its
  own (``autodeflate='off'``);
* :class:`LimitMetadata`: what a memory limit was set with, in the
  domain's ``<metadata>``.

The libvirt driver builds every guest config from :class:`ConfigGuest`
(its one seam); :mod:`nova.virt.libvirt.xloud` does the rest.
"""

from lxml import etree

from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import guest as libvirt_guest

#: The namespace of XLoud's elements in a domain's <metadata>.
METADATA_NS = 'urn:x-xloud:libvirt:nova:1.0'
METADATA_PREFIX = 'xloud'


def _flags(persistent, live, *more):
    libvirt = libvirt_guest.libvirt
    flags = persistent and libvirt.VIR_DOMAIN_AFFECT_CONFIG or 0
    flags |= live and libvirt.VIR_DOMAIN_AFFECT_LIVE or 0
    for flag in more:
        flags |= flag
    return flags


def _each_flag(persistent, live):
    """One flag at a time, for the libvirt-python calls that read first.

    libvirt-python reads the parameters with the flags it is given before
    it sets them, and a read takes the definition or the live guest, not
    both.
    """
    libvirt = libvirt_guest.libvirt
    flags = [flag for flag, wanted in (
        (libvirt.VIR_DOMAIN_AFFECT_CONFIG, persistent),
        (libvirt.VIR_DOMAIN_AFFECT_LIVE, live)) if wanted]
    return flags or [0]


class Guest(libvirt_guest.Guest):
    """A libvirt guest with the setters an adjust needs."""

    @classmethod
    def of(cls, guest):
        """The same domain as upstream's ``guest``, with these setters."""
        return guest if isinstance(guest, cls) else cls(guest._domain)

    def set_vcpus(self, count, persistent=False, live=False, guest=False):
        """Set the guest's current vCPU count, up to its maximum.

        :param persistent: change the domain's definition (next boot)
        :param live: change the running guest (vCPU hot-plug or unplug)
        :param guest: instead, have the guest agent online or offline
            vCPUs until ``count`` are online
        """
        more = [libvirt_guest.libvirt.VIR_DOMAIN_VCPU_GUEST] if guest else []
        self._domain.setVcpusFlags(count, _flags(persistent, live, *more))

    def set_memory(self, memory_kib, persistent=False, live=False):
        """Set the guest's current memory (the balloon target), in KiB.

        :param persistent: change the domain's definition (next boot)
        :param live: change the running guest
        """
        self._domain.setMemoryFlags(memory_kib, _flags(persistent, live))

    def set_memory_hard_limit(self, limit_kib, persistent=False, live=False):
        """Set the memory hard limit of the guest's QEMU, in KiB.

        :param persistent: change the domain's definition (next boot)
        :param live: change the running guest's memory cgroup
        """
        for flag in _each_flag(persistent, live):
            self._domain.setMemoryParameters(
                {libvirt_guest.libvirt.VIR_DOMAIN_MEMORY_HARD_LIMIT:
                    limit_kib}, flag)

    def set_scheduler_parameters(self, params, persistent=False, live=False):
        """Set scheduler parameters (``<cputune>``), e.g. the CPU quota.

        :param persistent: change the domain's definition (next boot)
        :param live: change the running guest's CPU cgroup
        """
        for flag in _each_flag(persistent, live):
            self._domain.setSchedulerParametersFlags(params, flag)

    def set_agent_timeout(self, seconds):
        """How long the domain's guest agent calls wait for an answer.

        :param seconds: a timeout, or libvirt's -2 (block), -1 (its
            default) or 0 (do not wait)
        """
        self._domain.agentSetResponseTimeout(seconds, 0)

    def set_metadata(self, element, persistent=False, live=False):
        """Set XLoud's element of the domain's ``<metadata>``.

        ``element`` comes without a namespace of its own: libvirt puts it
        in METADATA_NS under METADATA_PREFIX, and refuses an element that
        declares that prefix already ("failed to create a new XML
        namespace").
        """
        self._domain.setMetadata(
            libvirt_guest.libvirt.VIR_DOMAIN_METADATA_ELEMENT, element,
            METADATA_PREFIX, METADATA_NS, flags=_flags(persistent, live))

    def get_config(self, inactive=False):
        """The guest's config (a :class:`ConfigGuest`), live or defined."""
        config = ConfigGuest()
        config.parse_str(self.get_xml_desc(dump_inactive=inactive))
        return config


class ConfigGuestVCPU(vconfig.LibvirtConfigObject):
    """One ``<vcpu>`` of a domain's ``<vcpus>``: its boot and hot-plug state.

    vCPUs above a flavor's minimum are hot-pluggable on every boot.
    """

    def __init__(self, **kwargs):
        super().__init__(root_name="vcpu", **kwargs)
        self.id = None
        self.enabled = True
        self.hotpluggable = False
        self.order = None

    def format_dom(self):
        root = super().format_dom()
        root.set("id", str(self.id))
        root.set("enabled", self.get_yes_no_str(self.enabled))
        root.set("hotpluggable", self.get_yes_no_str(self.hotpluggable))
        if self.order is not None:
            root.set("order", str(self.order))
        return root

    def parse_dom(self, xmldoc):
        super().parse_dom(xmldoc)
        self.id = int(xmldoc.get("id"))
        self.enabled = xmldoc.get("enabled") == "yes"
        self.hotpluggable = xmldoc.get("hotpluggable") == "yes"
        if xmldoc.get("order") is not None:
            self.order = int(xmldoc.get("order"))


class ConfigGuest(vconfig.LibvirtConfigGuest):
    """A guest config that can run below its maximum size."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        #: <vcpu current='N'>: the vCPUs the guest runs with, when fewer
        #: than ``vcpus``
        self.vcpus_current = None
        #: <currentMemory> (KiB): the memory it runs with, when less than
        #: ``memory``
        self.current_memory = None
        #: <vcpus>: a ConfigGuestVCPU for each vCPU, when listed
        self.vcpu_list = []

    def format_dom(self):
        root = super().format_dom()
        if self.current_memory is not None:
            root.find('memory').addnext(
                self._text_node('currentMemory', self.current_memory))
        vcpu = root.find('vcpu')
        if self.vcpus_current is not None:
            vcpu.set('current', str(self.vcpus_current))
        if self.vcpu_list:
            vcpus = etree.Element('vcpus')
            for each in self.vcpu_list:
                vcpus.append(each.format_dom())
            vcpu.addnext(vcpus)
        return root

    def parse_dom(self, xmldoc):
        super().parse_dom(xmldoc)
        current_memory = xmldoc.find('currentMemory')
        if current_memory is not None:
            self.current_memory = int(current_memory.text)
        vcpu = xmldoc.find('vcpu')
        if vcpu is not None and vcpu.get('current') is not None:
            self.vcpus_current = int(vcpu.get('current'))
        for child in xmldoc.findall('./vcpus/vcpu'):
            each = ConfigGuestVCPU()
            each.parse_dom(child)
            self.vcpu_list.append(each)


class ConfigMemoryBalloon(vconfig.LibvirtConfigMemoryBalloon):
    """A virtio balloon the guest cannot deflate on its own.

    For guests held below their memory: one that deflated its balloon
    under memory pressure would use memory placement never allocated.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model = 'virtio'

    def format_dom(self):
        dev = super().format_dom()
        dev.set('autodeflate', 'off')
        return dev


class LimitMetadata(vconfig.LibvirtConfigObject):
    """``<xloud:limit overhead_mib='N'/>``: what a memory limit was set
    with, in the domain's ``<metadata>``.
    """

    def __init__(self, overhead_mb=None, **kwargs):
        super().__init__(root_name='limit', ns_prefix=METADATA_PREFIX,
                         ns_uri=METADATA_NS, **kwargs)
        self.overhead_mb = overhead_mb

    def format_dom(self):
        limit = super().format_dom()
        limit.set('overhead_mib', str(self.overhead_mb))
        return limit
