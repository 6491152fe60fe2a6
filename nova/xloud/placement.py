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

"""A server's VCPU / MEMORY_MB allocation, resized in place."""

import sys

from oslo_log import log as logging

from nova.compute import utils as compute_utils
from nova import exception
from nova.i18n import _
from nova import objects
from nova.scheduler.client import report
from nova.xloud import notify
from nova.xloud import records
from nova.xloud import sizing

LOG = logging.getLogger(__name__)

#: The compute node trait of hosts that can adjust servers live.
TRAIT = 'CUSTOM_XLOUD_ADJUST'
#: Consumer or provider generation conflicts are retried this often.
ATTEMPTS = 4
CLASSES = ('VCPU', 'MEMORY_MB')


class XloudHostFull(exception.Invalid):
    code = 409
    msg_fmt = _("The host of server %(uuid)s lacks the capacity for "
                "%(resources)s.")


class XloudAllocationConflict(exception.Invalid):
    code = 409
    msg_fmt = _("The allocation of server %(uuid)s kept changing while it "
                "was adjusted; try again.")


def _node_provider(allocations, rp_uuid=None):
    """The provider holding the server's VCPU / MEMORY_MB.

    ``rp_uuid``, when given, picks among several (an evacuated server holds
    an allocation on its old host until that host cleans it up).
    """
    if rp_uuid is not None:
        return rp_uuid if rp_uuid in allocations else None
    for candidate, alloc in allocations.items():
        if set(CLASSES) & set(alloc['resources']):
            return candidate
    return None


def current(reportclient, context, instance_uuid, rp_uuid=None):
    """(provider uuid, {class: amount}) of the server, or (None, {}).

    :param rp_uuid: the compute node provider to read, where the server
        may hold allocations on more than one
    """
    allocs = reportclient.get_allocs_for_consumer(context, instance_uuid)
    rp_uuid = _node_provider(allocs.get('allocations', {}), rp_uuid)
    if rp_uuid is None:
        return None, {}
    resources = allocs['allocations'][rp_uuid]['resources']
    return rp_uuid, {rc: resources[rc] for rc in CLASSES if rc in resources}


def resize(reportclient, context, instance_uuid, amounts, rp_uuid=None,
           allocs=None, still=None):
    """Set the server's VCPU / MEMORY_MB amounts; keep everything else.

    :param amounts: {'VCPU': n, 'MEMORY_MB': m}; a class left out keeps its
        amount
    :param rp_uuid: the compute node provider, where the server holds
        allocations on more than one
    :param allocs: the server's allocations as the caller just read them,
        used for the first attempt instead of reading them again (a stale
        read costs a retry: its consumer generation no longer matches)
    :param still: a callable asked after each read of the allocations;
        when it answers false, nothing is written and None is returned.
        Together with the consumer generation, it makes the write
        conditional: whatever changed the allocation after ``still`` said
        yes makes the write fail and be read, and asked, again.
    :returns: the amounts before, for a rollback
    :raises: XloudHostFull when placement refuses for capacity,
        XloudAllocationConflict when generations kept changing
    """
    for attempt in range(ATTEMPTS):
        if attempt or allocs is None:
            allocs = reportclient.get_allocs_for_consumer(context,
                                                          instance_uuid)
        if still is not None and not still():
            return None
        node = _node_provider(allocs.get('allocations', {}), rp_uuid)
        if node is None:
            raise exception.ConsumerAllocationRetrievalFailed(
                consumer_uuid=instance_uuid,
                error='the server holds no VCPU or MEMORY_MB allocation')
        resources = allocs['allocations'][node]['resources']
        before = {rc: resources[rc] for rc in CLASSES if rc in resources}
        wanted = dict(before, **{rc: n for rc, n in amounts.items()
                                 if rc in before})
        if wanted == before:
            return before
        payload = {
            'allocations': {
                rp: {'resources': (dict(a['resources'], **wanted)
                                   if rp == node else a['resources'])}
                for rp, a in allocs['allocations'].items()
            },
            'consumer_generation': allocs['consumer_generation'],
            'project_id': allocs['project_id'],
            'user_id': allocs['user_id'],
        }
        # Not put_allocations(): it answers False both for a host without
        # the capacity and for a race it gave up retrying, and a user must
        # be told which.
        resp = reportclient.put(
            '/allocations/%s' % instance_uuid, payload,
            version=report.CONSUMER_GENERATION_VERSION,
            global_request_id=context.global_id)
        if resp.status_code == 204:
            return before
        try:
            error = resp.json()['errors'][0]
        except (ValueError, KeyError, IndexError, TypeError):
            error = {'code': None, 'detail': resp.text}
        if error.get('code') == 'placement.concurrent_update':
            LOG.debug('Retrying the allocation of %s: %s', instance_uuid,
                      error.get('detail'))
            continue
        if resp.status_code == 409:
            grown = sorted(f'{rc}={wanted[rc]}' for rc in wanted
                           if wanted[rc] > before[rc])
            raise XloudHostFull(uuid=instance_uuid,
                                resources=', '.join(grown) or 'this size')
        raise exception.AllocationUpdateFailed(
            consumer_uuid=instance_uuid, error=error.get('detail'))
    raise XloudAllocationConflict(uuid=instance_uuid)


def host_can_adjust(reportclient, context, instance_uuid, rp_uuid=None):
    """The server's allocations, if its compute node has the XLoud trait.

    nova-compute reports the trait from its driver's "supports_xloud_adjust"
    capability, so an older compute, or a driver without support, does not.
    Returns None (false) when the host cannot adjust; else the allocations
    it read, which the caller can hand to resize() instead of reading them
    again.
    """
    allocs = reportclient.get_allocs_for_consumer(context, instance_uuid)
    rp_uuid = _node_provider(allocs.get('allocations', {}), rp_uuid)
    if rp_uuid is None:
        return None
    traits = reportclient.get_provider_traits(context, rp_uuid).traits
    return allocs if TRAIT in traits else None


def heal_resources(instance, resources):
    """Size a flavor's resources for heal_allocations as the guest runs.

    ``nova-manage placement heal_allocations`` (also with ``--force``)
    rebuilds a server's allocation from its flavor, i.e. its minimum; an
    adjusted server runs at the sizes its record says. Changes
    ``resources`` ({class: amount}) in place.
    """
    try:
        if not sizing.has_minimum(instance.flavor):
            return
        if not instance.obj_attr_is_set('system_metadata'):
            instance.obj_load_attr('system_metadata')
        sizes = records.live(instance)
    except Exception:
        # never make heal_allocations fail: it heals from the flavor then
        LOG.exception('Cannot read the size the server runs at; healing '
                      'its allocation from its flavor', instance=instance)
        return
    for rc, field in (('VCPU', 'vcpus'), ('MEMORY_MB', 'memory_mb')):
        if rc in resources:
            resources[rc] = sizes[field]


def provider_of(context, instance):
    """The compute node provider of the host the server runs on now.

    Not merely the first provider holding its VCPU: an evacuated server
    also holds an allocation on the host it left, until that host comes
    back and cleans it up.
    """
    return objects.ComputeNode.get_by_host_and_nodename(
        context, instance.host, instance.node).uuid


def follow_guest(reportclient, context, instance, driver=None):
    """Make the server's record and allocation match what its guest has.

    Called after every operation that starts or regenerates the domain
    (reboots, start, resume on host boot, rescue and unrescue, every move
    and its revert): each boots the guest at its next-boot size, or, for
    a soft reboot or an unrescue, at what its definition says. The sizes
    are read from the hypervisor where the driver can, else taken from the
    record, and recorded as what the guest runs at.

    Moves claim that size through the scheduler, so for them this finds
    nothing to change. Failures are logged and leave an instance fault,
    never raised: the operation that called it has already happened. The
    audit (nova-manage xloud audit) reports what is left.

    It runs after the operation has ended its task, outside the server's
    lock (its caller may hold it), so an adjust can be accepted meanwhile.
    Then the adjust owns the server's size: nothing here is written once
    the server's task state is no longer the one its caller left.
    """
    if not instance.obj_attr_is_set('flavor'):
        return
    if not sizing.has_minimum(instance.flavor):
        return
    task_state = instance.task_state
    try:
        instance.system_metadata  # loads it where the caller left it out
        sizes = None
        if driver is not None:
            try:
                sizes = driver.xloud_sizes(instance)
            except NotImplementedError:
                pass
        sizes = sizes or records.live(instance)
        records.record(instance, sizes, persist=False)
        if 'system_metadata' in instance.obj_what_changed():
            # not over an adjust begun meanwhile (its token, its record)
            instance.save(expected_task_state=[task_state])

        def still():
            return objects.Instance.get_by_uuid(
                context, instance.uuid, expected_attrs=[]
            ).task_state == task_state
        if resize(reportclient, context, instance.uuid,
                  {'VCPU': sizes['vcpus'], 'MEMORY_MB': sizes['memory_mb']},
                  rp_uuid=provider_of(context, instance),
                  still=still) is not None:
            # (None: an adjust began meanwhile, and tells its own size)
            notify.size(context, instance, sizes)
    except exception.UnexpectedTaskStateError as e:
        LOG.info('Not following the size of the guest: the server is %s '
                 'now, which sets its size itself',
                 e.kwargs.get('actual'), instance=instance)
    except Exception as e:
        LOG.exception('Could not make the allocation of the server follow '
                      'its size', instance=instance)
        try:
            compute_utils.add_instance_fault_from_exc(
                context, instance, e, sys.exc_info())
        except Exception:
            LOG.exception('Could not record the fault', instance=instance)
