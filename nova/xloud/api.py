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

"""The compute API of live adjust, as the REST controller calls it.

Every check runs, and every refusal happens, before anything changes:
the envelope (400), the lock, the state, another task in flight, the
host being down or not serving live adjust (409), placement being
unreachable (503), and growth past the project's quota (403). Then the
adjust is marked in flight (task_state and a token), growth is claimed
in placement (409 if the host is full), the instance action is recorded
and the compute host is cast to. If anything after the mark fails before
the cast could have sent anything, the mark and the claim are undone (only
while the adjust is still this request's) and the action is finished with
a failed event. A cast that fails after the broker may have taken the
message undoes nothing: the adjust stays in flight, and its compute host
ends it, or, if the message was lost, the resolver does, from what the
hypervisor says.
"""

from keystoneauth1 import exceptions as ks_exc
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import excutils

from nova.compute import vm_states
from nova import exception
from nova.i18n import _
from nova import objects
from nova.scheduler.client import report
from nova import servicegroup
from nova.xloud import inflight
from nova.xloud import moving
from nova.xloud import placement
from nova.xloud import quota
from nova.xloud import records
from nova.xloud import rpcapi
from nova.xloud import sizing

LOG = logging.getLogger(__name__)

#: The instance action, as os-instance-actions lists it.
ACTION = inflight.ACTION
#: The API's event of that action, recorded when the API itself fails it.
EVENT = 'api_xloud_adjust'

#: What Nova's report client raises, on the calls this API makes, when
#: placement is down or answers something unexpected (get_provider_traits
#: raises ResourceProviderTraitRetrievalFailed, not TraitRetrievalFailed).
PLACEMENT_ERRORS = (ks_exc.ClientException,
                    exception.PlacementAPIConnectFailure,
                    exception.ConsumerAllocationRetrievalFailed,
                    exception.ResourceProviderTraitRetrievalFailed,
                    exception.UsagesRetrievalFailed,
                    exception.AllocationUpdateFailed)


class XloudHostCannotAdjust(exception.Invalid):
    code = 409
    msg_fmt = _("The host of server %(uuid)s cannot adjust servers live: "
                "its nova-compute is older than XLoud or its driver does "
                "not support it.")


class XloudHostDown(exception.Invalid):
    code = 409
    msg_fmt = _("The host %(host)s of server %(uuid)s is down or forced "
                "down; a server can only be adjusted while its host's "
                "nova-compute is up.")


class XloudHostFullHere(placement.XloudHostFull):
    msg_fmt = _("The host of server %(uuid)s lacks the capacity for "
                "%(resources)s; with \"live_migrate\": true the server "
                "is moved, live, to a host that has it, and grown there.")


class XloudPlacementUnavailable(exception.NovaException):
    code = 503
    msg_fmt = _("The placement service is unavailable or answered "
                "unexpectedly; server %(uuid)s was not changed. Try again "
                "later.")


class XloudComputeUnreachable(exception.NovaException):
    code = 503
    msg_fmt = _("The adjust of server %(uuid)s could not be sent to its "
                "compute host; nothing was changed. Try again later.")


class API:

    def __init__(self, compute_api=None):
        self.compute_api = compute_api
        self.rpcapi = rpcapi.XloudComputeAPI()
        self.servicegroup_api = servicegroup.API()

    @property
    def reportclient(self):
        return report.report_client_singleton()

    def show(self, context, instance):
        """The server's envelope, sizes and allocation, per resource."""
        flavor = instance.flavor
        live = records.live(instance)
        boot = records.next_boot(instance)
        try:
            rp_uuid = placement.provider_of(context, instance)
        except (exception.ComputeHostNotFound, exception.NotFound):
            rp_uuid = None  # e.g. shelved offloaded: no host
        try:
            _rp, allocated = placement.current(
                self.reportclient, context, instance.uuid, rp_uuid=rp_uuid)
        except PLACEMENT_ERRORS as e:
            LOG.warning('Cannot read the allocation: %s', e,
                        instance=instance)
            raise XloudPlacementUnavailable(uuid=instance.uuid)
        body = {'server_id': instance.uuid, 'phase': moving.phase(instance)}
        for _key, field, _spec, rc in sizing.RESOURCES:
            bounds = sizing.envelope(flavor, field)
            body[field] = {
                'minimum': bounds[0] if bounds else None,
                'maximum': flavor[field],
                'current': live[field],
                'next_boot': boot[field],
                'allocated': allocated.get(rc),
                'adjustable': bounds is not None,
            }
        plugged = records.vcpus_plugged(instance)
        if plugged is not None:
            # an unplug did not finish; a CPU cap holds the guest to
            # "current"
            body['vcpus']['plugged'] = plugged
        return body

    def _serving_node(self, context, instance):
        """The compute node of the server, if it can adjust it now.

        :raises: XloudHostDown when its nova-compute is down (as
            servicegroup judges it, forced down included),
            XloudHostCannotAdjust when its nova-compute does not serve
            the xloud namespace (an upstream or downgraded one)
        """
        try:
            service = objects.Service.get_by_compute_host(context,
                                                          instance.host)
            node = objects.ComputeNode.get_by_host_and_nodename(
                context, instance.host, instance.node)
        except exception.NotFound:
            raise XloudHostCannotAdjust(uuid=instance.uuid)
        if not self.servicegroup_api.service_is_up(service):
            raise XloudHostDown(host=instance.host, uuid=instance.uuid)
        if rpcapi.served_by(node) is None:
            raise XloudHostCannotAdjust(uuid=instance.uuid)
        return node

    def adjust(self, context, instance, vcpus=None, memory_mb=None,
               persist=True, live_migrate=False):
        """Adjust the server; with ``live_migrate``, move it to grow it.

        A growth its host has no room for is a 409 (XloudHostFull); with
        ``live_migrate`` it moves the server, live, to a host that has the
        room, and grows it there (nova.xloud.moving). Shrinking never
        moves a server.
        """
        try:
            self._adjust(context, instance, vcpus, memory_mb, persist)
        except placement.XloudHostFull as e:
            if not live_migrate:
                raise XloudHostFullHere(**e.kwargs)
            live = records.live(instance)
            sizes = {'vcpus': live['vcpus'] if vcpus is None else vcpus,
                     'memory_mb': (live['memory_mb'] if memory_mb is None
                                   else memory_mb)}
            # the mark _adjust set is undone: the server is as it was, and
            # stays so unless the scheduler finds a host
            host, _node = moving.find_host(context, instance, sizes)
            moving.start(self.compute_api, context, instance, host, sizes,
                         persist)

    def _adjust(self, context, instance, vcpus, memory_mb, persist):
        requested = {'current_vcpus': vcpus, 'current_memory_mb': memory_mb}
        sizing.check_request(instance.flavor, requested)
        if instance.locked:
            raise exception.InstanceIsLocked(instance_uuid=instance.uuid)
        if not (instance.vm_state == vm_states.ACTIVE or
                (instance.vm_state == vm_states.STOPPED and persist)):
            raise exception.InstanceInvalidState(
                attr='vm_state', instance_uuid=instance.uuid,
                state=instance.vm_state, method='xloud_adjust')
        if instance.task_state is not None:
            raise exception.InstanceInvalidState(
                attr='task_state', instance_uuid=instance.uuid,
                state=instance.task_state, method='xloud_adjust')
        node = self._serving_node(context, instance)
        try:
            allocations = placement.host_can_adjust(
                self.reportclient, context, instance.uuid, node.uuid)
        except PLACEMENT_ERRORS as e:
            LOG.warning('Cannot check the host in placement: %s', e,
                        instance=instance)
            raise XloudPlacementUnavailable(uuid=instance.uuid)
        if not allocations:
            raise XloudHostCannotAdjust(uuid=instance.uuid)
        live = records.live(instance)
        try:
            quota.check_growth(context, instance, {
                'VCPU': 0 if vcpus is None else vcpus - live['vcpus'],
                'MEMORY_MB': (0 if memory_mb is None
                              else memory_mb - live['memory_mb'])})
        except PLACEMENT_ERRORS as e:
            LOG.warning('Cannot read the usage of the project: %s', e,
                        instance=instance)
            raise XloudPlacementUnavailable(uuid=instance.uuid)

        # Two racing adjusts: only one gets past this.
        inflight.begin(context, instance)
        try:
            instance.save(expected_task_state=[None])
        except exception.UnexpectedTaskStateError as e:
            raise exception.InstanceInvalidState(
                attr='task_state', instance_uuid=instance.uuid,
                state=e.kwargs.get('actual'), method='xloud_adjust')

        live = records.live(instance)
        grow = {}
        if vcpus is not None and vcpus > live['vcpus']:
            grow['VCPU'] = vcpus
        if memory_mb is not None and memory_mb > live['memory_mb']:
            grow['MEMORY_MB'] = memory_mb
        before = None
        recorded = False
        try:
            if grow:
                # Claim growth before the hypervisor is touched; shrinking
                # is released by the compute once the hypervisor confirms.
                try:
                    before = placement.resize(
                        self.reportclient, context, instance.uuid, grow,
                        rp_uuid=node.uuid, allocs=allocations)
                except PLACEMENT_ERRORS as e:
                    LOG.warning('Cannot claim the growth: %s', e,
                                instance=instance)
                    raise XloudPlacementUnavailable(uuid=instance.uuid)
            objects.InstanceAction.action_start(
                context, instance.uuid, ACTION, want_result=False)
            recorded = True
            self.rpcapi.xloud_adjust(context, instance, vcpus, memory_mb,
                                     persist)
        except messaging.InvalidTarget as e:
            # refused before anything was sent
            LOG.warning('Cannot send the adjust to the compute host: %s', e,
                        instance=instance)
            self._undo(context, instance, before, node.uuid, e)
            raise XloudComputeUnreachable(uuid=instance.uuid)
        except messaging.MessagingException as e:
            # The broker may have taken the message all the same (a publish
            # retried during a failover): the compute may be applying it.
            # Undo nothing; the adjust ends as its compute says, or, if the
            # message was lost, as the resolver reads the hypervisor.
            LOG.warning('The adjust may not have reached the compute host: '
                        '%s; it stays in flight until its host applies it '
                        'or resolves it', e, instance=instance)
        except Exception as e:
            with excutils.save_and_reraise_exception():
                self._undo(context, instance, before, node.uuid,
                           e if recorded else None)

    def _undo(self, context, instance, before, rp_uuid, error):
        """Roll back the in-flight mark and a claim; fail the action.

        Only while the adjust is still this request's: the mark is saved
        away with the task state it set, and the token is read again first.
        """
        token = inflight.token(instance)
        now = objects.Instance.get_by_uuid(
            context, instance.uuid, expected_attrs=['system_metadata'])
        inflight.end(instance)
        try:
            if inflight.token(now) == token:
                instance.save(expected_task_state=[inflight.ADJUSTING])
                ours = True
            else:
                ours = False
        except exception.UnexpectedTaskStateError:
            ours = False
        if not ours:
            LOG.warning('Not undoing the adjust: it is no longer this '
                        'request\'s', instance=instance)
            return
        if before:
            try:
                placement.resize(self.reportclient, context, instance.uuid,
                                 before, rp_uuid=rp_uuid)
            except Exception:
                LOG.exception('Could not restore the allocation of the '
                              'server to %s', before, instance=instance)
        if error is not None:
            try:
                objects.InstanceActionEvent.event_start(
                    context, instance.uuid, EVENT, want_result=False)
                objects.InstanceActionEvent.event_finish_with_failure(
                    context, instance.uuid, EVENT, exc_val=error,
                    exc_tb=error.__traceback__, want_result=False)
            except Exception:
                LOG.exception('Could not fail the instance action',
                              instance=instance)
