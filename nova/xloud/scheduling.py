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

"""Where a server with a minimum may be scheduled."""

from oslo_log import log as logging

from nova.compute import task_states
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.xloud import moving
from nova.xloud import placement
from nova.xloud import records
from nova.xloud import sizing

LOG = logging.getLogger(__name__)


def require_minimum_support(ctxt, request_spec):
    """A request filter: minimums go only to hosts that honour them.

    Placement allocates a flavor's minimum. Only a host whose nova-compute
    is XLoud's, with a driver that can run a guest below its maximum,
    boots the guest at that minimum; such hosts report the XLoud trait.
    Anywhere else the guest would run at its maximum on an allocation of
    its minimum. Registered in nova.scheduler.request_filter.
    """
    flavor = request_spec.flavor
    if not sizing.has_minimum(flavor):
        return True
    request_spec.root_required.add(placement.TRAIT)
    LOG.debug('require_minimum_support request filter added required '
              'trait %s', placement.TRAIT)
    return True


def _server_of(ctxt, request_spec):
    """The existing server a RequestSpec is for, or None (a new one)."""
    if not request_spec.obj_attr_is_set('instance_uuid'):
        return None
    try:
        mapping = objects.InstanceMapping.get_by_instance_uuid(
            ctxt, request_spec.instance_uuid)
    except exception.InstanceMappingNotFound:
        return None
    if not mapping.cell_mapping:
        return None  # still a build request: a new server
    with nova_context.target_cell(ctxt.elevated(),
                                  mapping.cell_mapping) as cctxt:
        try:
            return objects.Instance.get_by_uuid(
                cctxt, request_spec.instance_uuid,
                expected_attrs=['system_metadata', 'flavor'])
        except exception.InstanceNotFound:
            return None


def size_moves(ctxt, request_spec):
    """A request filter: a move claims the size its guest will run at.

    Placement would allocate the flavor's minimum for every request. A
    server that was adjusted runs elsewhere at other sizes: a cold
    migration, a resize to the same flavor, an evacuation or an unshelve
    boots it at its next-boot size, and a live migration keeps the size
    it runs at. So the scheduler only picks a destination with room for
    that, and with none the move fails as NoValidHost and the server stays
    where it is. A resize to another flavor starts at that flavor's
    minimum. Registered in nova.scheduler.request_filter.

    A live migration that moves a server to grow it claims the size it
    will grow to (nova.xloud.moving), and so does the scheduler's answer
    to where that size would fit, asked before the move.
    """
    flavor = request_spec.flavor
    if not sizing.has_minimum(flavor):
        return True
    server = _server_of(ctxt, request_spec)
    if server is None or server.flavor.flavorid != flavor.flavorid:
        return True
    sizes = moving.hinted(request_spec)
    if sizes is None and server.task_state == task_states.MIGRATING:
        move = moving.pending(server)
        sizes = ({'vcpus': move['vcpus'], 'memory_mb': move['memory_mb']}
                 if move else records.live(server))
    elif sizes is None:
        sizes = records.next_boot(server)
    sizing.size_move(request_spec, sizes)
    LOG.debug('size_moves request filter sized the move of %s at %s',
              server.uuid, sizes)
    return True
