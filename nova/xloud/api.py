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
the envelope (400), the lock, the state, another task in flight and the
host's support (409). Then the task_state guard is taken, growth is
claimed in placement (409 if the host is full), the instance action is
recorded and the compute host is cast to.
"""

from oslo_log import log as logging
from oslo_utils import excutils

from nova.compute import vm_states
from nova import exception
from nova.i18n import _
from nova import objects
from nova.scheduler.client import report
from nova.xloud import placement
from nova.xloud import rpcapi
from nova.xloud import sizing

LOG = logging.getLogger(__name__)

#: The instance action, as os-instance-actions lists it.
ACTION = 'xloud-adjust'


class XloudHostCannotAdjust(exception.Invalid):
    code = 409
    msg_fmt = _("The host of server %(uuid)s cannot adjust servers live: "
                "its nova-compute is older than XLoud or its driver does "
                "not support it.")


class API:

    def __init__(self):
        self.rpcapi = rpcapi.XloudComputeAPI()

    @property
    def reportclient(self):
        return report.report_client_singleton()

    def show(self, context, instance):
        """The server's envelope, sizes and allocation, per resource."""
        flavor = instance.flavor
        live = sizing.live(instance)
        boot = sizing.next_boot(instance)
        _rp, allocated = placement.current(self.reportclient, context,
                                           instance.uuid)
        body = {'server_id': instance.uuid}
        for _key, field, _spec, rc, _p, _l in sizing.RESOURCES:
            bounds = sizing.envelope(flavor, field)
            body[field] = {
                'minimum': bounds[0] if bounds else None,
                'maximum': flavor[field],
                'current': live[field],
                'next_boot': boot[field],
                'allocated': allocated.get(rc),
                'adjustable': bounds is not None,
            }
        return body

    def adjust(self, context, instance, vcpus=None, memory_mb=None,
               persist=True):
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
        allocations = placement.host_can_adjust(self.reportclient, context,
                                                instance.uuid)
        if not allocations:
            raise XloudHostCannotAdjust(uuid=instance.uuid)

        # Two racing adjusts: only one gets past this.
        instance.task_state = sizing.ADJUSTING
        try:
            instance.save(expected_task_state=[None])
        except exception.UnexpectedTaskStateError as e:
            raise exception.InstanceInvalidState(
                attr='task_state', instance_uuid=instance.uuid,
                state=e.kwargs.get('actual'), method='xloud_adjust')

        live = sizing.live(instance)
        grow = {}
        if vcpus is not None and vcpus > live['vcpus']:
            grow['VCPU'] = vcpus
        if memory_mb is not None and memory_mb > live['memory_mb']:
            grow['MEMORY_MB'] = memory_mb
        before = None
        try:
            if grow:
                # Claim growth before the hypervisor is touched; shrinking
                # is released by the compute once the hypervisor confirms.
                before = placement.resize(self.reportclient, context,
                                          instance.uuid, grow,
                                          allocs=allocations)
            objects.InstanceAction.action_start(
                context, instance.uuid, ACTION, want_result=False)
            self.rpcapi.xloud_adjust(context, instance, vcpus, memory_mb,
                                     persist)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._undo(context, instance, before)

    def _undo(self, context, instance, before):
        if before:
            try:
                placement.resize(self.reportclient, context, instance.uuid,
                                 before)
            except Exception:
                LOG.exception('Could not restore the allocation of the '
                              'server to %s', before, instance=instance)
        instance.task_state = None
        instance.save()
