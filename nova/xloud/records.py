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

"""A server's record: the size it runs at, and the size it boots at next.

Kept in the server's system_metadata (which users cannot write), written
by every adjust and by every path that boots or follows the guest, and
read by ``GET /os-xloud-adjust``, placement's follow-the-guest, the audit
and the next boot. The sizes a record may hold are bounded by the
flavor's envelope (:mod:`nova.xloud.sizing`): a recorded size outside it
is ignored. "A size set without persist lasts until the server next
boots": the table "What a server runs at after each operation" in
doc/source/admin/xloud-live-resize.rst.
"""

from nova.compute import vm_states
from nova import exception
from nova.i18n import _
from nova.xloud import sizing

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

#: (flavor field, next-boot key, live key) of each size a record holds.
_FIELDS = (
    ('vcpus', SYSMETA_VCPUS, SYSMETA_LIVE_VCPUS),
    ('memory_mb', SYSMETA_MEMORY_MB, SYSMETA_LIVE_MEMORY_MB),
)


def _sysmeta(instance):
    if not instance.obj_attr_is_set('system_metadata'):
        return {}
    return instance.system_metadata or {}


def _recorded(instance, key, field):
    """A recorded size, if it still lies in the instance's envelope."""
    value = sizing.parse_size(_sysmeta(instance).get(key))
    bounds = sizing.envelope(instance.flavor, field)
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
    for field, persist_key, _live in _FIELDS:
        value = (_recorded(instance, keys[persist_key], field) if keys
                 else None)
        if value is None:
            value = (sizing.boot_vcpus(flavor) if field == 'vcpus'
                     else sizing.boot_memory_mb(flavor))
        sizes[field] = value
    return sizes


def live(instance):
    """{flavor field: size} the guest runs at, as last recorded."""
    sizes = next_boot(instance)
    if (_sysmeta(instance).get(SYSMETA_FLAVOR) ==
            instance.flavor.flavorid and not _resizing_into(instance)):
        for field, _persist, live_key in _FIELDS:
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
    for field, persist_key, live_key in _FIELDS:
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
    plugged = sizing.parse_size(_sysmeta(instance).get(SYSMETA_VCPUS_PLUGGED))
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
    for field, _persist, live_key in _FIELDS:
        if sysmeta.get(live_key) != str(boot[field]):
            instance.system_metadata[live_key] = str(boot[field])
