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

"""Growing a server whose host is full: move it live, then grow it.

An adjust with ``"live_migrate": true`` that does not fit on the server's
host goes through two phases, which ``GET /os-xloud-adjust`` shows
(``phase``):

``moving``
    The scheduler is asked first, without claiming anything, for another
    host with room for the new size; with none the API answers 409 and
    nothing has changed. Otherwise the server is live-migrated there as
    upstream's live migration does it (the ``live-migration`` instance
    action, a migration record, the scheduler's filters), with the new
    size written beside it (:data:`SYSMETA_MOVE`). The scheduler then
    claims the new size on the destination (nova.xloud.scheduling), so
    the destination holds at least what the guest can use at every
    instant, and upstream releases the source once the guest has left.
``adjusting``
    The destination, once the guest has arrived, begins the adjust as the
    API does (task state ``xloud_adjusting``, the same token) and grows
    the guest through the normal adjust path, on the claim the move made.

A move that fails leaves the server where it was, at the size it had.
"""

import traceback

from oslo_context import context as context_utils
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import excutils

from nova.compute import utils as compute_utils
import nova.conf
from nova import exception
from nova.i18n import _
from nova import objects
from nova.scheduler.client import query
from nova.xloud import inflight
from nova.xloud import rpcapi

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

#: The grow that waits for a live migration to end: a JSON object with
#: the sizes to grow to, whether they persist, and the adjust's token.
SYSMETA_MOVE = 'xloud_move'
#: The scheduler hint of a request spec asked where the new size fits
#: (never saved: the spec asked is a copy).
HINT = '_xloud_size'

#: The event, on the move's live-migration action, of a move that failed.
MOVE_EVENT = 'compute_xloud_grow_after_move'

#: What GET shows of what runs on a server: an adjust (a grow after its
#: move too), or the move of a grow.
ADJUSTING = 'adjusting'
MOVING = 'moving'


class XloudNoHostFits(exception.Invalid):
    code = 409
    msg_fmt = _("No other host can run server %(uuid)s at %(vcpus)d vCPUs "
                "and %(memory_mb)d MiB; the server was not changed.")


class XloudMoveFailed(exception.NovaException):
    msg_fmt = _("The live migration of server %(uuid)s to %(host)s, to "
                "grow it to %(vcpus)d vCPUs and %(memory_mb)d MiB, failed; "
                "it runs on %(source)s at the size it had, and was not "
                "grown.")


class XloudCannotMove(exception.Invalid):
    code = 409
    msg_fmt = _("Server %(uuid)s cannot be live-migrated to grow it: "
                "%(reason)s; the server was not changed.")


def pending(instance):
    """The grow waiting for the server's move, or None.

    :returns: {'vcpus': n, 'memory_mb': m, 'persist': bool, 'host': h,
        'request_id': the request that asked for it}
    """
    if not instance.obj_attr_is_set('system_metadata'):
        return None
    raw = (instance.system_metadata or {}).get(SYSMETA_MOVE)
    if not raw:
        return None
    try:
        move = jsonutils.loads(raw)
        return {'vcpus': int(move['vcpus']),
                'memory_mb': int(move['memory_mb']),
                'persist': bool(move['persist']),
                'host': move['host'],
                'request_id': move.get('request_id')}
    except (ValueError, TypeError, KeyError):
        return None


def phase(instance):
    """What runs on the server, as GET shows it, or None."""
    if instance.task_state == inflight.ADJUSTING:
        return ADJUSTING
    if pending(instance) is not None:
        # migrating, or just arrived with its grow about to begin, or
        # back on its source until the periodic task forgets the grow
        return MOVING
    return None


def note(context, instance, host, sizes, persist):
    """Write the grow that waits for the move to ``host``; the caller
    saves.

    With the request that asked for it, which the move's live-migration
    action is recorded under.
    """
    instance.system_metadata[SYSMETA_MOVE] = jsonutils.dumps({
        'vcpus': sizes['vcpus'], 'memory_mb': sizes['memory_mb'],
        'persist': persist, 'host': host,
        'request_id': context.request_id})


def forget(instance):
    """Drop the grow that waited for the move; the caller saves."""
    instance.system_metadata.pop(SYSMETA_MOVE, None)


def hinted(request_spec):
    """The sizes a request spec was asked about, from its hint, or None."""
    hints = (request_spec.scheduler_hints
             if request_spec.obj_attr_is_set('scheduler_hints') else None)
    value = (hints or {}).get(HINT)
    if not value or len(value) != 2:
        return None
    try:
        return {'vcpus': int(value[0]), 'memory_mb': int(value[1])}
    except (TypeError, ValueError):
        return None


def find_host(context, instance, sizes):
    """Ask the scheduler which other host fits ``sizes``; claim nothing.

    The server's own request spec is asked, as a live migration asks it
    (every filter it carries: availability zone, server groups, required
    traits, aggregates), with its host left out and a hint of the new
    size, which the size_moves request filter makes placement look for.
    Without instance UUIDs the scheduler only selects: it claims nothing,
    as upstream's rebuild check relies on.

    :returns: (host, node) of the host selected
    :raises: XloudNoHostFits when no host fits
    """
    spec = objects.RequestSpec.get_by_instance_uuid(context, instance.uuid)
    spec.reset_forced_destinations()
    spec.ignore_hosts = [instance.host]
    hints = dict(spec.scheduler_hints or {})
    hints[HINT] = ['%d' % sizes['vcpus'], '%d' % sizes['memory_mb']]
    spec.scheduler_hints = hints
    try:
        selections = query.SchedulerQueryClient().select_destinations(
            context, spec, None, return_objects=True,
            return_alternates=False)
    except exception.NoValidHost:
        raise XloudNoHostFits(uuid=instance.uuid, **sizes)
    selected = selections[0][0]
    return selected.service_host, selected.nodename


def start(compute_api, context, instance, host, sizes, persist):
    """Live-migrate the server to ``host``, to grow it there to ``sizes``.

    The grow is noted in the same save that marks the server migrating,
    so no one sees the one without the other. Upstream records the move
    (the ``live-migration`` action, a migration) and fails it as it fails
    any live migration.

    :raises: XloudCannotMove when upstream refuses the live migration;
        nothing has changed then
    """
    note(context, instance, host, sizes, persist)
    try:
        compute_api.live_migrate(context, instance, None, None, host,
                                 force=False, async_=True)
    except exception.Invalid as e:
        forget(instance)
        raise XloudCannotMove(uuid=instance.uuid,
                              reason=e.format_message())
    except Exception:
        with excutils.save_and_reraise_exception():
            forget(instance)


def arrived(manager, context, instance):
    """From follow-the-guest: begin the grow a move was made for.

    On the host a live migration noted for a grow has just ended on (its
    task state cleared, the guest at the size it left with, placement
    holding the size it grows to): the adjust begins as the API begins
    one, as its own ``xloud-adjust`` action with a token of its own, and
    goes to this host through the normal adjust path, on the claim the
    move made. A server that another task took meanwhile is followed as
    usual (its claim goes back to its guest).

    :returns: whether the grow began (then the allocation is left alone)
    """
    move = pending(instance)
    if (move is None or instance.task_state is not None or
            move['host'] != manager.host or instance.host != manager.host):
        return False
    ctxt = context.elevated()
    ctxt.request_id = context_utils.generate_request_id()
    forget(instance)
    inflight.begin(ctxt, instance)
    try:
        instance.save(expected_task_state=[None])
    except exception.UnexpectedTaskStateError:
        LOG.warning('Not growing the server after its move: it has '
                    'another task now', instance=instance)
        instance.refresh()
        return False
    objects.InstanceAction.action_start(ctxt, instance.uuid,
                                        inflight.ACTION,
                                        want_result=False)
    LOG.info('Growing the server to %s vCPUs and %s MiB after its move',
             move['vcpus'], move['memory_mb'], instance=instance)
    rpcapi.XloudComputeAPI().xloud_adjust(
        ctxt, instance, move['vcpus'], move['memory_mb'], move['persist'])
    return True


def unfinished_moves(manager, context):
    """The periodic task: end the grows whose move ended without them.

    A live migration that failed (no host after all, a pre-check, the
    migration itself) leaves the server on its source with its task state
    cleared, the size it had and upstream's record of the failure; the
    grow it was for is dropped, and said so. A server that arrived here
    but whose grow never began (this nova-compute stopped in between) for
    ``[xloud] adjust_timeout`` seconds is grown now, on the claim the move
    made, so its allocation never stays above its guest.
    """
    instances = objects.InstanceList.get_by_filters(
        context, {'host': manager.host, 'task_state': None,
                  'deleted': False},
        expected_attrs=['system_metadata'])
    for instance in instances:
        move = pending(instance)
        if move is None:
            continue
        if move['host'] == manager.host:
            if inflight.age(instance).total_seconds() >= (
                    CONF.xloud.adjust_timeout):
                arrived(manager, context, instance)
            continue
        forget(instance)
        try:
            instance.save(expected_task_state=[None])
        except exception.UnexpectedTaskStateError:
            continue  # moving again: its next end decides
        _fail(context, manager.host, instance, move)


def _fail(context, host, instance, move):
    """Say that the move of a grow failed, where the request looks.

    An event in error on the move's live-migration action (upstream's own
    events of a migration that failed in the hypervisor can all say
    Success) and an instance fault, both with where it failed.
    """
    error = XloudMoveFailed(uuid=instance.uuid, host=move['host'],
                            source=host, vcpus=move['vcpus'],
                            memory_mb=move['memory_mb'])
    LOG.warning('%s', error.format_message(), instance=instance)
    ctxt = context.elevated()
    if move['request_id']:
        ctxt.request_id = move['request_id']
    try:
        objects.InstanceActionEvent.event_start(
            ctxt, instance.uuid, MOVE_EVENT, want_result=False, host=host)
        # raised by no call: its "traceback" is what it says
        objects.InstanceActionEvent.event_finish_with_failure(
            ctxt, instance.uuid, MOVE_EVENT, exc_val=error,
            exc_tb=''.join(traceback.format_exception_only(error)),
            want_result=False)
        compute_utils.add_instance_fault_from_exc(ctxt, instance, error)
    except Exception:
        LOG.exception('Could not record that the move failed',
                      instance=instance)
