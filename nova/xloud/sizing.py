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

What a server runs at within its envelope, and boots at next, is its
record: :mod:`nova.xloud.records`.
"""

import re

from oslo_utils import strutils

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


def parse_size(value):
    """The integer a minimum_* spec or a recorded size holds, or None."""
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
        value = parse_size(extra_specs[key])
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
    value = parse_size(specs.get(key))
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


RESOURCES = (
    # (request key, flavor field, minimum spec, placement class)
    ('current_vcpus', 'vcpus', MINIMUM_CPU, 'VCPU'),
    ('current_memory_mb', 'memory_mb', MINIMUM_MEMORY, 'MEMORY_MB'),
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
    for key, field, spec, _rc in RESOURCES:
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
