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

"""The sizing envelope a flavor declares with ``minimum_*`` extra specs.

A flavor's ``vcpus`` / ``memory_mb`` are the most a server of the flavor may
have; ``minimum_cpu`` / ``minimum_memory`` (MiB) the least. A server boots
at the minimum and placement allocates the minimum.

Everything here reads only the flavor (and, where given, the image
properties): never ``instance.metadata``, which users can write, and never
anything that would lazy-load. A flavor whose minimum is invalid or cannot
be honoured (see :func:`conflicts`) behaves exactly like upstream, so data
that predates these checks keeps working; the API refuses to create such
flavors or boot from them.
"""

import re

from oslo_utils import strutils

from nova.compute import vm_states
from nova import exception
from nova.i18n import _

MINIMUM_CPU = 'minimum_cpu'
MINIMUM_MEMORY = 'minimum_memory'

_VGPU = re.compile(r'^resources[^:]*:VGPU$')
_VCPU_OVERRIDE = re.compile(r'^resources[^:]*:VCPU$')
_MEMORY_OVERRIDE = re.compile(r'^resources[^:]*:MEMORY_MB$')
#: Extra specs whose value changes what check_envelope() says.
_RELEVANT = re.compile(
    r'^(minimum_cpu|minimum_memory|hw:cpu_policy|hw:cpu_realtime|'
    r'hw:mem_page_size|hw:mem_encryption|hw:locked_memory|'
    r'pci_passthrough:alias|resources[^:]*:(VGPU|VCPU|MEMORY_MB))$')


class XloudEnvelopeInvalid(exception.InvalidRequest):
    # An InvalidRequest, so the servers API answers 400 on create, resize
    # and rebuild (servers.INVALID_FLAVOR_IMAGE_EXCEPTIONS).
    msg_fmt = _("%(reason)s")


def _specs(flavor):
    # ``get`` with a default does not lazy-load an unset extra_specs.
    return flavor.get('extra_specs', {}) or {}


def _parse_minimum(value):
    """The integer a minimum_* spec holds, or None when it holds none."""
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 1 else None


def _true(value):
    return strutils.bool_from_string(value, default=False)


def conflicts(extra_specs, image_props=None):
    """Why the minimums of these specs cannot be honoured, per resource.

    :param extra_specs: the flavor's extra specs
    :param image_props: optional ``ImageMetaProps`` of the server's image
    :returns: a dict mapping MINIMUM_CPU / MINIMUM_MEMORY to a reason
    """
    def prop(name):
        if image_props is None:
            return None
        return image_props.get(name)

    found = {}
    cpu_policy = {extra_specs.get('hw:cpu_policy'), prop('hw_cpu_policy')}
    pinned = sorted(p for p in cpu_policy if p in ('dedicated', 'mixed'))
    if any(_VCPU_OVERRIDE.match(k) for k in extra_specs):
        found[MINIMUM_CPU] = _(
            "minimum_cpu cannot be combined with resources:VCPU: the flavor "
            "would then say two things about the VCPU placement "
            "allocates.")
    elif pinned:
        found[MINIMUM_CPU] = _(
            "minimum_cpu cannot be combined with a %s CPU policy: pinned "
            "vCPUs are claimed and pinned at the flavor's full vcpus."
        ) % pinned[0]
    elif _true(extra_specs.get('hw:cpu_realtime')):
        found[MINIMUM_CPU] = _(
            "minimum_cpu cannot be combined with hw:cpu_realtime: realtime "
            "vCPUs are pinned at the flavor's full vcpus.")

    if any(_MEMORY_OVERRIDE.match(k) for k in extra_specs):
        found[MINIMUM_MEMORY] = _(
            "minimum_memory cannot be combined with resources:MEMORY_MB: "
            "the flavor would then say two things about the MEMORY_MB "
            "placement allocates.")
    elif extra_specs.get('hw:mem_page_size') or prop('hw_mem_page_size'):
        found[MINIMUM_MEMORY] = _(
            "minimum_memory cannot be combined with an explicit memory page "
            "size (hw:mem_page_size): such memory is reserved whole and "
            "cannot be ballooned.")
    elif (_true(extra_specs.get('hw:mem_encryption')) or
            _true(prop('hw_mem_encryption'))):
        found[MINIMUM_MEMORY] = _(
            "minimum_memory cannot be combined with memory encryption "
            "(hw:mem_encryption): encrypted guest memory cannot be "
            "ballooned.")
    elif _true(extra_specs.get('hw:locked_memory')):
        found[MINIMUM_MEMORY] = _(
            "minimum_memory cannot be combined with hw:locked_memory: "
            "locked guest memory cannot be ballooned.")
    elif extra_specs.get('pci_passthrough:alias') or any(
            _VGPU.match(k) for k in extra_specs):
        found[MINIMUM_MEMORY] = _(
            "minimum_memory cannot be combined with PCI or vGPU passthrough "
            "(pci_passthrough:alias, resources:VGPU): device assignment pins "
            "all guest memory.")
    return found


def check_envelope(vcpus, memory_mb, extra_specs, image_props=None):
    """Refuse minimums that are invalid or that this release cannot honour.

    :raises: XloudEnvelopeInvalid naming the problem
    """
    problems = []
    for key, maximum, field in ((MINIMUM_CPU, vcpus, 'vcpus'),
                                (MINIMUM_MEMORY, memory_mb, 'memory_mb')):
        if key not in extra_specs:
            continue
        value = _parse_minimum(extra_specs[key])
        if value is None:
            problems.append(
                _("%(key)s must be an integer of at least 1, not "
                  "'%(value)s'.") % {'key': key, 'value': extra_specs[key]})
        elif value > maximum:
            problems.append(
                _("%(key)s (%(value)d) cannot exceed the flavor's %(field)s "
                  "(%(max)d).") % {'key': key, 'value': value,
                                   'field': field, 'max': maximum})
    found = conflicts(extra_specs, image_props)
    problems += [found[key] for key in (MINIMUM_CPU, MINIMUM_MEMORY)
                 if key in found and key in extra_specs]
    if problems:
        raise XloudEnvelopeInvalid(reason=' '.join(problems))


def check_flavor(flavor, image_meta=None):
    """check_envelope() for a flavor, and the image a server boots from."""
    check_envelope(flavor.vcpus, flavor.memory_mb, _specs(flavor),
                   image_meta.properties if image_meta else None)


def check_extra_specs_update(flavor, specs):
    """check_envelope() for the specs a flavor would have after an update.

    Only requests that set a spec the envelope depends on are checked, so
    unrelated updates to a flavor that predates these checks still work.

    :raises: exception.ValidationError naming the problem
    """
    if not any(_RELEVANT.match(key) for key in specs):
        return
    merged = dict(_specs(flavor), **specs)
    try:
        check_envelope(flavor.vcpus, flavor.memory_mb, merged)
    except XloudEnvelopeInvalid as e:
        # the flavor extra specs API answers 400 for a ValidationError
        raise exception.ValidationError(detail=e.format_message())


def _minimum(flavor, key, maximum):
    specs = _specs(flavor)
    value = _parse_minimum(specs.get(key))
    if value is None or value > maximum or key in conflicts(specs):
        return None
    return value


def minimum_vcpus(flavor):
    """The flavor's usable minimum_cpu, or None when it has none."""
    return _minimum(flavor, MINIMUM_CPU, flavor.vcpus)


def minimum_memory_mb(flavor):
    """The flavor's usable minimum_memory in MiB, or None."""
    return _minimum(flavor, MINIMUM_MEMORY, flavor.memory_mb)


#: What a RequestSpec carries, in the scheduler only, when it is for a move
#: of a server that runs at other sizes than its flavor's minimum. It is
#: a plain attribute, not a field: it is never saved and never sent.
_MOVE_SIZES = '_xloud_move_sizes'


def size_move(request_spec, sizes):
    """Make placement allocate ``sizes`` for a move of the spec's server.

    :param sizes: {'vcpus': n, 'memory_mb': m}, what the guest will run at
    """
    setattr(request_spec, _MOVE_SIZES, dict(sizes))


def requested_vcpus(request_spec):
    """The VCPU amount placement allocates for a RequestSpec."""
    sizes = getattr(request_spec, _MOVE_SIZES, None)
    return sizes['vcpus'] if sizes else boot_vcpus(request_spec.flavor)


def requested_memory_mb(request_spec):
    """The MEMORY_MB amount placement allocates for a RequestSpec."""
    sizes = getattr(request_spec, _MOVE_SIZES, None)
    return sizes['memory_mb'] if sizes else boot_memory_mb(
        request_spec.flavor)


def has_minimum(flavor):
    """Whether the flavor declares a usable minimum_cpu or minimum_memory.

    A flavor without either spec is answered from its extra specs alone,
    so an incomplete flavor object (as some callers have) is never read
    further.
    """
    specs = _specs(flavor)
    if MINIMUM_CPU not in specs and MINIMUM_MEMORY not in specs:
        return False
    return (minimum_vcpus(flavor) is not None or
            minimum_memory_mb(flavor) is not None)


def boot_vcpus(flavor):
    """The vCPUs a server of the flavor boots with and placement claims."""
    return minimum_vcpus(flavor) or flavor.vcpus


def boot_memory_mb(flavor):
    """The memory a server of the flavor boots with and placement claims."""
    return minimum_memory_mb(flavor) or flavor.memory_mb


# What an adjust records in the (user read-only) system_metadata.
#: The sizes the next boot uses, and the flavor they belong to: a resize to
#: another flavor starts over at its minimum.
SYSMETA_VCPUS = 'xloud_vcpus'
SYSMETA_MEMORY_MB = 'xloud_memory_mb'
SYSMETA_FLAVOR = 'xloud_flavorid'
#: The sizes the guest runs at since its last adjust.
SYSMETA_LIVE_VCPUS = 'xloud_live_vcpus'
SYSMETA_LIVE_MEMORY_MB = 'xloud_live_memory_mb'
#: The vCPUs the guest still has when a CPU cap holds it to fewer (a
#: shrink whose unplug did not finish); absent otherwise.
SYSMETA_VCPUS_PLUGGED = 'xloud_vcpus_plugged'
#: The next-boot sizes, and their flavor, that a resize replaced: a revert
#: gives them back, as upstream's revert gives back the old flavor.
SYSMETA_OLD_FLAVOR = 'xloud_old_flavorid'
SYSMETA_OLD = {SYSMETA_VCPUS: 'xloud_old_vcpus',
               SYSMETA_MEMORY_MB: 'xloud_old_memory_mb'}

RESOURCES = (
    # (request key, flavor field, minimum spec, placement class, sysmeta)
    ('current_vcpus', 'vcpus', MINIMUM_CPU, 'VCPU', SYSMETA_VCPUS,
     SYSMETA_LIVE_VCPUS),
    ('current_memory_mb', 'memory_mb', MINIMUM_MEMORY, 'MEMORY_MB',
     SYSMETA_MEMORY_MB, SYSMETA_LIVE_MEMORY_MB),
)


def envelope(flavor, flavor_field):
    """(minimum, maximum) a resource may be adjusted within, or None."""
    maximum = flavor[flavor_field]
    minimum = (minimum_vcpus(flavor) if flavor_field == 'vcpus'
               else minimum_memory_mb(flavor))
    if minimum is None:
        return None
    return minimum, maximum


def check_request(flavor, requested):
    """Refuse sizes outside the flavor's envelope, naming the range.

    :param requested: {'current_vcpus': N, 'current_memory_mb': M}, either
        key optional
    :raises: XloudEnvelopeInvalid
    """
    problems = []
    for key, field, spec, _rc, _s, _l in RESOURCES:
        if requested.get(key) is None:
            continue
        bounds = envelope(flavor, field)
        if bounds is None:
            problems.append(
                _("%(key)s cannot be adjusted: flavor %(flavor)s declares no "
                  "%(spec)s.") % {'key': key, 'flavor': flavor.flavorid,
                                  'spec': spec})
        elif not bounds[0] <= requested[key] <= bounds[1]:
            problems.append(
                _("%(key)s %(value)d is outside the allowed range "
                  "%(low)d-%(high)d.") % {'key': key,
                                          'value': requested[key],
                                          'low': bounds[0],
                                          'high': bounds[1]})
    if problems:
        raise XloudEnvelopeInvalid(reason=' '.join(problems))


def _sysmeta(instance):
    if not instance.obj_attr_is_set('system_metadata'):
        return {}
    return instance.system_metadata or {}


def _recorded(instance, key, field):
    """A recorded size, if it still lies in the instance's envelope."""
    value = _parse_minimum(_sysmeta(instance).get(key))
    bounds = envelope(instance.flavor, field)
    if value is None or bounds is None or not (
            bounds[0] <= value <= bounds[1]):
        return None
    return value


def _resizing_into(instance):
    """Whether the instance is being resized into its current flavor.

    While a resize finishes, ``old_flavor`` is the flavor it came from; a
    resize into a flavor starts over at that flavor's minimum, even where
    an earlier adjust (before an A -> B -> A resize) recorded sizes for it.
    """
    if not instance.obj_attr_is_set('old_flavor') or not instance.old_flavor:
        return False
    return instance.old_flavor.flavorid != instance.flavor.flavorid


def _building(instance):
    return (instance.obj_attr_is_set('vm_state') and
            instance.vm_state == vm_states.BUILDING)


def has_record(instance):
    """Whether XLoud recorded the sizes of this server.

    Every server XLoud builds has a record from its first boot on. A
    server without one was built before XLoud was installed on its host
    (or by an upstream compute during a rolling upgrade): it was booted,
    and allocated, at its flavor's maximum. Its compute records what its
    guest really has when it starts (``nova.xloud.compute``).
    """
    sysmeta = _sysmeta(instance)
    return SYSMETA_FLAVOR in sysmeta or SYSMETA_OLD_FLAVOR in sysmeta


def record_of(instance):
    """The server's XLoud record, to tell later whether it changed."""
    return {key: value for key, value in _sysmeta(instance).items()
            if key.startswith('xloud_')}


def next_boot(instance):
    """{flavor field: size} the instance's next boot uses.

    An adjust made with persist=True for the instance's current flavor; or
    the next-boot size a resize replaced, when a revert has given back its
    flavor; or, for a server with no record at all that is not being
    built, the flavor's maximum (what upstream booted it at); or else the
    flavor's minimum, or else (no minimum) the flavor's maximum.
    """
    flavor = instance.flavor
    sysmeta = _sysmeta(instance)
    keys = None
    if not _resizing_into(instance):
        if sysmeta.get(SYSMETA_FLAVOR) == flavor.flavorid:
            keys = {key: key for key in SYSMETA_OLD}
        elif sysmeta.get(SYSMETA_OLD_FLAVOR) == flavor.flavorid:
            keys = SYSMETA_OLD  # reverted to the flavor a resize left
        elif not has_record(instance) and not _building(instance):
            return {'vcpus': flavor.vcpus, 'memory_mb': flavor.memory_mb}
    sizes = {}
    for _key, field, _spec, _rc, persist_key, _live in RESOURCES:
        value = (_recorded(instance, keys[persist_key], field) if keys
                 else None)
        if value is None:
            value = (boot_vcpus(flavor) if field == 'vcpus'
                     else boot_memory_mb(flavor))
        sizes[field] = value
    return sizes


def live(instance):
    """{flavor field: size} the guest runs at, as last recorded."""
    sizes = next_boot(instance)
    if (_sysmeta(instance).get(SYSMETA_FLAVOR) ==
            instance.flavor.flavorid and not _resizing_into(instance)):
        for _key, field, _spec, _rc, _persist, live_key in RESOURCES:
            value = _recorded(instance, live_key, field)
            if value is not None:
                sizes[field] = value
    return sizes


def record(instance, sizes, persist):
    """Record an applied adjust in the instance's system_metadata.

    The caller saves the instance.
    """
    boot = next_boot(instance)  # before anything is recorded
    sysmeta = instance.system_metadata
    flavorid = instance.flavor.flavorid
    recorded_for = sysmeta.get(SYSMETA_FLAVOR)
    if recorded_for != flavorid and _resizing_into(instance):
        # a resize: keep what it replaces, for a revert
        old = instance.old_flavor
        if recorded_for == old.flavorid:
            kept = {key: sysmeta.get(key) for key in SYSMETA_OLD}
        else:
            # no record: it ran at its maximum, as upstream booted it
            kept = {SYSMETA_VCPUS: str(old.vcpus),
                    SYSMETA_MEMORY_MB: str(old.memory_mb)}
        sysmeta[SYSMETA_OLD_FLAVOR] = old.flavorid
        for key, old_key in SYSMETA_OLD.items():
            if kept[key] is None:
                sysmeta.pop(old_key, None)
            else:
                sysmeta[old_key] = kept[key]
    elif sysmeta.get(SYSMETA_OLD_FLAVOR) == flavorid:
        # a revert: ``boot`` is the next-boot size it gave back
        _forget_old(sysmeta)
    sysmeta[SYSMETA_FLAVOR] = flavorid
    for _key, field, _spec, _rc, persist_key, live_key in RESOURCES:
        sysmeta[live_key] = str(sizes[field])
        sysmeta[persist_key] = str(sizes[field] if persist else boot[field])
    if sizes.get('vcpus_plugged', 0) > sizes['vcpus']:
        sysmeta[SYSMETA_VCPUS_PLUGGED] = str(sizes['vcpus_plugged'])
    else:
        sysmeta.pop(SYSMETA_VCPUS_PLUGGED, None)


def _forget_old(sysmeta):
    for key in (SYSMETA_OLD_FLAVOR,) + tuple(SYSMETA_OLD.values()):
        sysmeta.pop(key, None)


def vcpus_plugged(instance):
    """The vCPUs a capped guest still has, or None when it is not capped.

    A guest whose vCPU unplug did not finish keeps vCPUs above its size;
    the host caps its CPU time to its size (``live()``).
    """
    plugged = _parse_minimum(_sysmeta(instance).get(SYSMETA_VCPUS_PLUGGED))
    if plugged is None or plugged <= live(instance)['vcpus']:
        return None
    return plugged


class XloudAdjustFailed(exception.NovaException):
    """The hypervisor failed an adjust; ``live`` is what the guest has."""
    msg_fmt = _("Adjusting the server failed: %(reason)s. It now runs with "
                "%(vcpus)s vCPUs and %(memory_mb)s MiB.")

    def __init__(self, live, reason):
        self.live = live
        super().__init__(reason=reason, vcpus=live['vcpus'],
                         memory_mb=live['memory_mb'])


def note_boot(instance):
    """Record that the guest was (re)defined at its next-boot sizes.

    Called whenever a domain is generated (boot, hard reboot, start,
    rebuild, a move), so a change that was not persisted is known to be
    gone. Only the in-memory instance changes; the compute manager saves it.
    """
    sysmeta = _sysmeta(instance)
    if SYSMETA_VCPUS_PLUGGED in sysmeta:
        # a new domain has exactly its vCPUs, and no cap
        del instance.system_metadata[SYSMETA_VCPUS_PLUGGED]
    if not has_record(instance) and not _resizing_into(instance):
        # from now on it is known what this server boots at
        record(instance, next_boot(instance), persist=False)
        return
    if sysmeta.get(SYSMETA_FLAVOR) != instance.flavor.flavorid:
        return
    boot = next_boot(instance)
    for _key, field, _spec, _rc, _persist, live_key in RESOURCES:
        if sysmeta.get(live_key) != str(boot[field]):
            instance.system_metadata[live_key] = str(boot[field])
