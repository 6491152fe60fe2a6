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

"""Boot libvirt guests inside the envelope their flavor declares.

The domain keeps the flavor's ``vcpus`` and ``memory_mb`` as its maximum
(``<vcpu>`` and ``<memory>``) and starts at the minimum
(``<vcpu current=...>`` and ``<currentMemory>``), so it can later be grown
live up to the maximum without a reboot. The CPU topology Nova builds
always covers the maximum. The domain also lists its vCPUs (``<vcpus>``):
the minimum's are boot vCPUs, and every vCPU above it is hot-pluggable,
enabled at boot or not, so that libvirt can unplug it again whatever size
the guest booted at (libvirt makes every vCPU online at boot a boot vCPU
otherwise, and refuses to unplug those).

A vCPU shrink is cooperative where the guest runs qemu-guest-agent: the
agent takes the extra CPUs offline first, then they are hot-unplugged.
When the unplug does not finish (no agent, a guest that does not let go,
or QEMU under TCG, which never reports the unplug done), the guest still
has vCPUs above its new size; the domain's CPU time is then capped to the
new size (``<cputune>`` ``global_quota``/``global_period``, live), so the
guest cannot use more than it was allocated. The cap is lifted once the
domain has no more vCPUs than its size.

The balloon only asks the guest to stay below its maximum memory. What
holds it there is ``<memtune><hard_limit>``, a memory cgroup limit on the
guest's QEMU process: the current memory plus ``[xloud]
memory_overhead_mb``. It is in the XML of every boot and follows every
live adjust, raised before the balloon grows and lowered only once the
balloon has shrunk. The overhead a limit was set with is kept beside it, in
the domain's ``<metadata>`` (``<xloud:limit overhead_mib='N'/>``), so the
memory the limit holds the guest to is read back right when an operator
changes the option, or the guest moves to a host where it differs.
"""

import time

from lxml import etree
from oslo_log import log as logging
from oslo_utils import units

import nova.conf
from nova import exception
from nova.i18n import _
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import xloud_guest
from nova.xloud import records
from nova.xloud import sizing

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

#: Seconds a shrink waits for the balloon to reach its target before the
#: memory limit is lowered (libvirt cannot lower a cgroup's limit below
#: what the guest still uses).
BALLOON_TIMEOUT = 60
BALLOON_POLL = 0.5

#: The CPU cap's period (microseconds): the kernel's default CFS period.
CPU_PERIOD = 100000
#: The virtio-serial port of Nova's guest agent channel.
AGENT_CHANNEL = 'org.qemu.guest_agent.0'
#: libvirt's VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT: the agent timeout
#: every other agent call of the domain expects.
AGENT_TIMEOUT_DEFAULT = -1

#: The namespace of the domain metadata this module writes.
METADATA_NS = xloud_guest.METADATA_NS

#: The virt types whose guests can run below their maximum: QEMU hot-plugs
#: vCPUs and has the virtio memory balloon.
SUPPORTED_VIRT_TYPES = ('kvm', 'qemu')


class XloudGuestUnsupported(exception.NovaException):
    msg_fmt = _("Cannot boot instance %(uuid)s at its flavor's minimum "
                "size: %(reason)s")


class XloudAgentUnresponsive(Exception):
    """The guest agent did not answer within [xloud] agent_timeout."""

    def __init__(self, error):
        super().__init__(
            _('the guest agent did not answer within %(timeout)d s '
              '(%(error)s); the guest keeps its vCPUs') %
            {'timeout': CONF.xloud.agent_timeout, 'error': error})


def _hold_balloon(guest):
    """Give the guest a virtio balloon that does not deflate on its own.

    In place of the one the guest config has, if any, keeping all the
    driver set on it: with [libvirt]mem_stats_period_seconds = 0 it is
    model 'none', and a guest below its maximum memory needs the balloon
    regardless (its statistics stay off then: the period is left unset).
    """
    held = xloud_guest.ConfigMemoryBalloon()
    for index, device in enumerate(guest.devices):
        if isinstance(device, vconfig.LibvirtConfigMemoryBalloon):
            held.__dict__.update(vars(device))
            if held.model != 'virtio':
                held.model, held.period = 'virtio', None
            guest.devices[index] = held
            return
    guest.add_device(held)


def boot_size(instance, image_meta):
    """(vCPUs, memory MiB) the instance starts with, or None for each.

    None means "the flavor's maximum", which is also what upstream does.
    """
    flavor = instance.flavor
    if (sizing.minimum_vcpus(flavor) is None and
            sizing.minimum_memory_mb(flavor) is None):
        return None, None
    # what an adjust persisted for this flavor, else the minimum
    boot = records.next_boot(instance)
    vcpus, memory_mb = boot['vcpus'], boot['memory_mb']
    # The API refuses images that conflict with the flavor's minimums; an
    # older server that slipped through boots at its maximum, as upstream.
    found = sizing.conflicts(flavor.get('extra_specs', {}) or {},
                             image_meta.properties if image_meta else None)
    if sizing.MINIMUM_CPU in found or vcpus >= flavor.vcpus:
        vcpus = None
    if sizing.MINIMUM_MEMORY in found or memory_mb >= flavor.memory_mb:
        memory_mb = None
    return vcpus, memory_mb


def _adjustable(instance, image_meta, minimum, maximum, spec):
    """Whether a resource may run below its maximum at all.

    ``minimum`` is the flavor's minimum of it (None without one),
    ``maximum`` the flavor's size, and ``spec`` the extra spec an image
    property can conflict with.
    """
    if minimum is None or minimum >= maximum:
        return False
    found = sizing.conflicts(instance.flavor.get('extra_specs', {}) or {},
                             image_meta.properties if image_meta else None)
    return spec not in found


def _memory_adjustable(instance, image_meta):
    """Whether the guest's memory may run below its maximum at all."""
    flavor = instance.flavor
    return _adjustable(instance, image_meta,
                       sizing.minimum_memory_mb(flavor), flavor.memory_mb,
                       sizing.MINIMUM_MEMORY)


def _vcpus_adjustable(instance, image_meta):
    """Whether the guest's vCPUs may run below their maximum at all."""
    flavor = instance.flavor
    return _adjustable(instance, image_meta, sizing.minimum_vcpus(flavor),
                       flavor.vcpus, sizing.MINIMUM_CPU)


def _list_vcpus(guest, minimum, enabled):
    """``<vcpus>``: boot vCPUs up to ``minimum``, hot-pluggable above it.

    :param enabled: how many vCPUs are online at boot
    """
    guest.vcpu_list = []
    for number in range(guest.vcpus):
        vcpu = xloud_guest.ConfigGuestVCPU()
        vcpu.id = number
        vcpu.enabled = number < enabled
        vcpu.hotpluggable = number >= minimum
        guest.vcpu_list.append(vcpu)


def memory_limit_kib(memory_mb):
    """The hard limit (KiB) of a guest running with ``memory_mb``."""
    return (memory_mb + CONF.xloud.memory_overhead_mb) * units.Ki


def _limit_memory(guest, memory_mb):
    """Hold the guest's QEMU to ``memory_mb`` plus the overhead."""
    if guest.memtune is None:
        guest.memtune = vconfig.LibvirtConfigGuestMemoryTune()
    guest.memtune.hard_limit = memory_limit_kib(memory_mb)
    guest.metadata.append(
        xloud_guest.LimitMetadata(overhead_mb=CONF.xloud.memory_overhead_mb))


def _set_limit(guest, instance, memory_mb, live=False, persistent=False):
    """Set the memory limit of a defined guest, and record its overhead.

    The record is what reads the limit back (:func:`sizes`); a guest whose
    record cannot be written keeps its limit, and is read back with the
    overhead configured then.
    """
    guest.set_memory_hard_limit(memory_limit_kib(memory_mb), live=live,
                                persistent=persistent)
    try:
        guest.set_metadata(
            '<limit overhead_mib="%d"/>' % CONF.xloud.memory_overhead_mb,
            live=live, persistent=persistent)
    except libvirt_guest.libvirt.libvirtError as e:
        LOG.warning('Cannot record the memory overhead in the domain: %s',
                    e, instance=instance)


def _overhead_mb(doc):
    """The overhead a domain's memory limit was set with (MiB)."""
    limit = doc.find('./metadata/{%s}limit' % METADATA_NS)
    if limit is not None:
        try:
            return int(limit.get('overhead_mib'))
        except (TypeError, ValueError):
            pass
    # set before the overhead was recorded: with the option's value
    return CONF.xloud.memory_overhead_mb


def configure_guest(guest, instance, image_meta):
    """Start ``guest`` at the instance's minimum size, if it has one.

    Called last by ``LibvirtDriver._get_guest_config``. A guest whose
    flavor has no minimum is left untouched, so its XML stays byte-for-byte
    what upstream generates.
    """
    vcpus, memory_mb = boot_size(instance, image_meta)
    balloon_held = _memory_adjustable(instance, image_meta)
    vcpus_held = _vcpus_adjustable(instance, image_meta)
    if (vcpus is None and memory_mb is None and not balloon_held and
            not vcpus_held):
        return
    records.note_boot(instance)
    if guest.virt_type not in SUPPORTED_VIRT_TYPES:
        raise XloudGuestUnsupported(
            uuid=instance.uuid,
            reason=_("virt_type %s cannot run a guest below its maximum "
                     "size") % guest.virt_type)
    if vcpus is not None:
        guest.vcpus_current = vcpus
    if vcpus_held:
        _list_vcpus(guest, sizing.minimum_vcpus(instance.flavor),
                    vcpus or guest.vcpus)
    if balloon_held:
        # The balloon target is the size placement allocated: a guest that
        # deflated it on its own under memory pressure would use memory
        # nobody allocated. (With deflate-on-OOM, Linux also keeps the
        # ballooned pages in MemTotal, so the guest would not see its size.)
        _hold_balloon(guest)
        # and a guest that unloads its balloon driver must not either
        _limit_memory(guest, memory_mb or instance.flavor.memory_mb)
    if memory_mb is not None:
        guest.current_memory = memory_mb * units.Ki


def _vcpus(guest, running):
    """The vCPU count libvirt reports for the guest, live or defined."""
    conf = guest.get_config(inactive=not running)
    return conf.vcpus_current or conf.vcpus


def sizes(guest):
    """{'vcpus': n, 'memory_mb': m} the guest has; the driver's
    xloud_sizes().

    Read from libvirt: the running guest's live vCPU count and current
    memory, or a stopped guest's definition. Memory is rounded up to whole
    MiB. Right after a boot the balloon is still on its way down to its
    target; where the guest's QEMU has a hard limit, the guest cannot use
    more than the limit leaves it, and that is what counts. Likewise a
    guest whose CPU time is capped can use no more vCPUs than the cap; it
    then also has ``vcpus_plugged``, the vCPUs it still has.
    """
    running = guest.is_active()
    xml = guest.get_xml_desc(dump_inactive=not running)
    conf = xloud_guest.ConfigGuest()
    conf.parse_str(xml)
    memory_mb = _memory_mb(conf)
    doc = etree.fromstring(xml)
    limit = doc.find('./memtune/hard_limit')
    if (running and limit is not None and
            limit.get('unit', 'KiB') == 'KiB'):
        held_to = int(limit.text) // units.Ki - _overhead_mb(doc)
        memory_mb = min(memory_mb, held_to)
    result = {'vcpus': conf.vcpus_current or conf.vcpus,
              'memory_mb': memory_mb}
    cap = _cap_of(doc) if running else None
    if cap is not None and cap < result['vcpus']:
        result['vcpus_plugged'] = result['vcpus']
        result['vcpus'] = cap
    return result


def _cap_of(doc):
    """The CPU cap (in whole vCPUs) of a domain's XML, or None."""
    period = doc.findtext('./cputune/global_period')
    quota = doc.findtext('./cputune/global_quota')
    if not period or not quota or int(quota) <= 0:
        return None
    return -(-int(quota) // int(period))


def _plugged(guest, running):
    """What libvirt has of a guest, live or (stopped) defined.

    :returns: (its vCPUs, its CPU cap or None, whether it has a guest
        agent channel the guest may be listening on, its config)
    """
    xml = guest.get_xml_desc(dump_inactive=not running)
    conf = xloud_guest.ConfigGuest()
    conf.parse_str(xml)
    doc = etree.fromstring(xml)
    agent = doc.find("./devices/channel/target[@name='%s']" % AGENT_CHANNEL)
    # a running domain's channel says whether the guest has the port open
    # (libvirt leaves the state out where QEMU cannot tell)
    agent = agent is not None and agent.get('state') != 'disconnected'
    return (conf.vcpus_current or conf.vcpus,
            _cap_of(doc) if running else None, agent, conf)


def _cap(guest, vcpus):
    """Hold the running guest's CPU time to ``vcpus`` whole vCPUs."""
    guest.set_scheduler_parameters(
        {'global_period': CPU_PERIOD, 'global_quota': vcpus * CPU_PERIOD},
        live=True)


def _uncap(guest):
    guest.set_scheduler_parameters({'global_quota': -1}, live=True)


def _set_vcpus(guest, instance, vcpus, flags, before):
    """Set the vCPUs; shrink cooperatively, cap what cannot be unplugged.

    :param before: what ``_plugged()`` said before the adjust
    :returns: the vCPUs the guest can use afterwards and, when a cap holds
        it there, how many it has (else None)
    :raises: libvirtError, with the vCPUs the guest can use then in its
        ``xloud_vcpus`` attribute when that is not what libvirt reports
    """
    plugged, cap, agent, _conf = before
    shrink = flags['live'] and vcpus < plugged
    if shrink and agent:
        try:
            # the guest lets go of them first, then they are unplugged
            _agent_set_vcpus(guest, vcpus)
        except libvirt_guest.libvirt.libvirtError as e:
            if (e.get_error_code() ==
                    libvirt_guest.libvirt.VIR_ERR_AGENT_UNRESPONSIVE):
                # nothing was changed; the agent may still act later, and
                # take offline CPUs the guest keeps: that only leaves it
                # using less than it is allocated
                raise XloudAgentUnresponsive(e)
            LOG.warning('The guest agent did not take vCPUs offline: %s',
                        e, instance=instance)
    try:
        guest.set_vcpus(vcpus, **flags)
    except libvirt_guest.libvirt.libvirtError as e:
        if not shrink:
            raise
        # libvirt waits a few seconds for the guest to release a vCPU
        LOG.warning('Unplugging vCPUs down to %(vcpus)d did not finish: '
                    '%(error)s', {'vcpus': vcpus, 'error': e},
                    instance=instance)
        if flags['persistent']:
            guest.set_vcpus(vcpus, persistent=True)
    plugged = _plugged(guest, flags['live'])[0]
    if plugged <= vcpus:
        if cap is not None:
            _uncap(guest)
            if agent:
                _online(guest, instance, plugged)
        return plugged, None
    # The unplug did not finish: the guest keeps vCPUs it was not
    # allocated, and must not use them.
    try:
        _cap(guest, vcpus)
    except libvirt_guest.libvirt.libvirtError as e:
        e.xloud_vcpus = min(plugged, cap or plugged)
        raise
    LOG.info('The guest keeps %(plugged)d vCPUs; its CPU time is capped to '
             '%(vcpus)d', {'plugged': plugged, 'vcpus': vcpus},
             instance=instance)
    return vcpus, plugged


def _agent_set_vcpus(guest, vcpus):
    """Have the guest agent put ``vcpus`` CPUs online, the rest offline.

    libvirt waits for an agent's answer forever by default; this call
    waits at most [xloud] agent_timeout seconds, then fails with
    VIR_ERR_AGENT_UNRESPONSIVE. The domain's agent timeout is set back to
    libvirt's default afterwards, for every other agent call.
    """
    guest.set_agent_timeout(CONF.xloud.agent_timeout)
    try:
        guest.set_vcpus(vcpus, guest=True)
    finally:
        try:
            guest.set_agent_timeout(AGENT_TIMEOUT_DEFAULT)
        except libvirt_guest.libvirt.libvirtError as e:
            LOG.warning('Cannot set the guest agent timeout back: %s', e,
                        instance_uuid=guest.uuid)


def _online(guest, instance, vcpus):
    """Have the agent online the CPUs an earlier shrink took offline."""
    try:
        _agent_set_vcpus(guest, vcpus)
    except libvirt_guest.libvirt.libvirtError as e:
        LOG.warning('The guest agent did not bring vCPUs online: %s', e,
                    instance=instance)


def _memory_mb(conf):
    """A guest config's current memory, rounded up to whole MiB."""
    return -(-(conf.current_memory or conf.memory) // units.Ki)


def _balloon_at(guest, memory_mb):
    """Wait until the running guest's balloon is down to ``memory_mb``.

    :returns: whether it got there within BALLOON_TIMEOUT
    """
    deadline = time.monotonic() + BALLOON_TIMEOUT
    while True:
        now = guest.get_config().current_memory
        if now is None or now <= memory_mb * units.Ki:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(BALLOON_POLL)


def _set_memory(guest, instance, old_mb, memory_mb, flags):
    """Move the balloon target and the memory limit, in a safe order.

    The limit is raised before the balloon grows, and lowered only after
    the guest has given the memory back: the guest never has a balloon
    target above its limit, and libvirt cannot lower a limit below what the
    guest still uses.

    :returns: the memory (MiB) the guest can use afterwards
    :raises: libvirtError, with the memory the guest can use then in its
        ``xloud_memory_mb`` attribute
    """
    limited = _memory_adjustable(instance, instance.image_meta)
    if not limited:
        guest.set_memory(memory_mb * units.Ki, **flags)
        return memory_mb
    if memory_mb >= old_mb:
        _set_limit(guest, instance, memory_mb, **flags)
        try:
            guest.set_memory(memory_mb * units.Ki, **flags)
        except libvirt_guest.libvirt.libvirtError as e:
            e.xloud_memory_mb = memory_mb  # what the limit allows
            if flags['live']:
                try:
                    _set_limit(guest, instance, old_mb, live=True)
                    e.xloud_memory_mb = old_mb
                except libvirt_guest.libvirt.libvirtError:
                    LOG.exception('Cannot lower the memory limit back',
                                  instance=instance)
            raise
        return memory_mb
    guest.set_memory(memory_mb * units.Ki, **flags)
    if flags['persistent']:
        _set_limit(guest, instance, memory_mb, persistent=True)
    if flags['live']:
        if not _balloon_at(guest, memory_mb):
            LOG.warning('The guest did not shrink its memory to %(memory)d '
                        'MiB within %(timeout)d s; it keeps its memory limit '
                        'of %(old)d MiB',
                        {'memory': memory_mb, 'timeout': BALLOON_TIMEOUT,
                         'old': old_mb}, instance=instance)
            return old_mb
        _set_limit(guest, instance, memory_mb, live=True)
    return memory_mb


def adjust(guest, instance, vcpus, memory_mb, persist):
    """Set a guest's vCPUs and memory; the driver's xloud_adjust().

    A running guest is changed live (vCPU hot-plug or a cooperative
    unplug, balloon target), and its definition too when ``persist``; a
    stopped one only in its definition. The vCPU count returned is the one
    the guest can use afterwards: what libvirt reports, or the CPU cap when
    an unplug did not finish (then ``vcpus_plugged`` says how many vCPUs
    the guest still has). The memory is the balloon target, which the
    guest reaches on its own shortly after (libvirt's live
    ``<currentMemory>`` is where the balloon is now, not where it goes). A
    live shrink of memory returns only once the guest has given the memory
    back and its limit is lowered; an adjust that leaves the memory as it
    is does not touch it live. When libvirt fails, or the guest keeps its
    memory, what the guest really can use is carried by the exception, so
    the caller can record it.
    """
    guest = xloud_guest.Guest.of(guest)
    running = guest.is_active()
    flags = {'live': running, 'persistent': persist or not running}
    sizes = records.live(instance)
    # A vCPU-only adjust leaves the running guest's memory alone
    memory_live = memory_mb != sizes['memory_mb'] or not running
    vcpus_done = False
    try:
        before = _plugged(guest, running)
        if memory_live:
            # what the guest may use now: the record, or more if libvirt's
            # balloon is still above it
            sizes['memory_mb'] = max(sizes['memory_mb'],
                                     _memory_mb(before[3]))
        sizes['vcpus'], plugged = _set_vcpus(guest, instance, vcpus, flags,
                                             before)
        vcpus_done = True
        if plugged:
            sizes['vcpus_plugged'] = plugged
        if memory_live:
            sizes['memory_mb'] = _set_memory(
                guest, instance, sizes['memory_mb'], memory_mb, flags)
        elif persist:
            # the next boot's memory only: a balloon still on its way down
            # after the boot is not a shrink to wait for
            _set_memory(guest, instance, memory_mb, memory_mb,
                        {'live': False, 'persistent': True})
    except XloudAgentUnresponsive as e:
        # a shrink of the vCPUs first, so nothing was changed
        LOG.warning('Cannot shrink the guest to %(vcpus)d vCPUs: %(error)s',
                    {'vcpus': vcpus, 'error': e}, instance=instance)
        raise records.XloudAdjustFailed(live=sizes, reason=str(e))
    except libvirt_guest.libvirt.libvirtError as e:
        sizes['memory_mb'] = getattr(e, 'xloud_memory_mb',
                                     sizes['memory_mb'])
        LOG.warning('libvirt failed to adjust the guest to %(vcpus)d vCPUs '
                    'and %(memory)d MiB: %(error)s',
                    {'vcpus': vcpus, 'memory': memory_mb, 'error': e},
                    instance=instance)
        try:
            if not vcpus_done:
                sizes['vcpus'] = getattr(e, 'xloud_vcpus', None) or _vcpus(
                    guest, running)
        except Exception:
            LOG.exception('Cannot read the guest back', instance=instance)
        raise records.XloudAdjustFailed(live=sizes, reason=str(e))
    if sizes['memory_mb'] != memory_mb:
        raise records.XloudAdjustFailed(
            live=sizes,
            reason=_('the guest did not give its memory back within %d s') %
            BALLOON_TIMEOUT)
    return sizes
