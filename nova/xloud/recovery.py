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

"""How an adjust ends on its compute: finished, or resolved from the guest.

An adjust whose message arrived ends with :func:`finish`, from what the
hypervisor did. One whose message never came (lost, or the compute
restarted) is resolved (:func:`resolve`): what the guest really has is
recorded and allocated, and the action fails with a fault saying so. The
resolver, the audit and the periodic task take the server's lock without
waiting (:func:`unless_busy`). A server with no record at all gets one
from its guest (:func:`record_from_guest`).
"""

import contextlib

from oslo_concurrency import lockutils
from oslo_log import log as logging

from nova.compute import utils as compute_utils
from nova.compute import vm_states
from nova import exception
from nova.i18n import _
from nova import objects
from nova.xloud import inflight
from nova.xloud import notify
from nova.xloud import placement
from nova.xloud import records
from nova.xloud import sizing

LOG = logging.getLogger(__name__)

ADJUSTING = inflight.ADJUSTING
#: The states in which a server's guest is defined on its host.
RECORDABLE = (vm_states.ACTIVE, vm_states.STOPPED, vm_states.PAUSED,
              vm_states.SUSPENDED)
#: The compute's event of the xloud-adjust instance action.
EVENT = 'compute_xloud_adjust'


class XloudAdjustInterrupted(exception.NovaException):
    msg_fmt = _("The adjust was interrupted (%(why)s) and was resolved "
                "from the hypervisor: the server runs with %(vcpus)s vCPUs "
                "and %(memory_mb)s MiB.")


class XloudServerBusy(exception.NovaException):
    msg_fmt = _("Server %(uuid)s is busy: an adjust or another operation "
                "holds it. Try again once it has ended.")


def unless_busy(instance, func):
    """Run ``func`` under the server's lock, or raise XloudServerBusy.

    For the resolver, the audit and the periodic task: they never wait for
    the lock, so a server whose adjust or other operation is slow (a
    guest that does not answer, say) holds up nothing but itself.

    The lock is the one utils.synchronized(instance.uuid) takes, taken
    with lockutils.lock rather than the decorator: the decorator of older
    oslo.concurrency (7.1.0, 2025.1's) returns None when the lock is held.
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(lockutils.lock(instance.uuid, blocking=False))
        except lockutils.AcquireLockFailedException:
            raise XloudServerBusy(uuid=instance.uuid)
        return func()


def finish(reportclient, context, instance, sizes, persist):
    """Record ``sizes``, make the allocation match, end the task."""
    try:
        placement.resize(reportclient, context, instance.uuid,
                         {'VCPU': sizes['vcpus'],
                          'MEMORY_MB': sizes['memory_mb']},
                         rp_uuid=placement.provider_of(context, instance))
    except Exception:
        LOG.exception('Could not set the allocation of the server to %s',
                      sizes, instance=instance)
    records.record(instance, sizes, persist)
    inflight.end(instance)
    instance.save(expected_task_state=[ADJUSTING])
    notify.size(context, instance, sizes)


def resolve(manager, context, instance, why):
    """Resolve the adjust in flight on ``instance`` from the hypervisor.

    What the guest really has is recorded (for this boot only: the next
    boot keeps what was recorded before), the allocation is made to match,
    the task state is cleared, and the instance action is failed with an
    event and a fault saying the adjust was interrupted.
    """
    before = records.live(instance)
    try:
        actual = manager.driver.xloud_sizes(instance)
    except NotImplementedError:
        actual = None
    except Exception:
        LOG.exception('Cannot read the sizes of the guest; keeping the '
                      'recorded ones', instance=instance)
        actual = None
    actual = actual or before
    try:
        # raised, so that it has a traceback for the event and the fault
        raise XloudAdjustInterrupted(why=why, **actual)
    except XloudAdjustInterrupted as e:
        error = e
    LOG.warning('Resolving an adjust in flight: %s', error.format_message(),
                instance=instance)
    # The instance action was recorded under the API request's ID, which
    # is the adjust's token; what this sends and records carries it too.
    action_context = context.elevated()
    action_context.request_id = inflight.token(instance) or context.request_id
    finish(manager.reportclient, action_context, instance, actual,
            persist=False)
    try:
        objects.InstanceActionEvent.event_start(
            action_context, instance.uuid, EVENT, want_result=False,
            host=manager.host)
        objects.InstanceActionEvent.event_finish_with_failure(
            action_context, instance.uuid, EVENT, exc_val=error,
            exc_tb=error.__traceback__, want_result=False)
    except exception.InstanceActionNotFound:
        LOG.info('The adjust has no instance action to finish',
                 instance=instance)
    compute_utils.add_instance_fault_from_exc(context, instance, error)
    notify.adjust(action_context, instance, manager.host, notify.ERROR,
                  before, actual, persist=False, exception=error)


def resolve_safely(manager, context, instance, why):
    """Resolve the adjust in flight unless it ended meanwhile or the
    server is busy (then the next look tries again). Never raises.
    """
    token = inflight.token(instance)

    def do_resolve():
        instance.refresh()
        if not inflight.still_in_flight(instance, token):
            return  # finished meanwhile (or another adjust began)
        resolve(manager, context, instance, why)
    try:
        unless_busy(instance, do_resolve)
    except XloudServerBusy:
        # an operation holds the server now; the next look tries again
        LOG.info('Not resolving the adjust in flight yet: the server is '
                 'busy', instance=instance)
    except Exception:
        LOG.exception('Could not resolve the adjust in flight',
                      instance=instance)


def record_from_guest(manager, context, instance):
    """Record what the guest of a server with no record runs at.

    Such a server was booted by an upstream compute, at its flavor's
    maximum, or by an XLoud build that did not record a boot. Either way
    its guest, not its flavor's minimum, says what it runs at, and its
    next boot keeps that: nothing shrinks a guest behind its owner's back.
    The allocation is left as it is; the audit compares the two.
    """
    try:
        if (instance.vm_state not in RECORDABLE or
                not sizing.has_minimum(instance.flavor) or
                records.has_record(instance)):
            return
        try:
            sizes = manager.driver.xloud_sizes(instance)
        except (NotImplementedError, exception.InstanceNotFound):
            return
        records.record(instance, sizes, persist=True)
        instance.save()
        notify.size(context, instance, sizes)
        LOG.info('Recorded the sizes the guest runs at, %s, for a server '
                 'that had no record', sizes, instance=instance)
    except Exception:
        LOG.exception('Could not record the sizes of the guest',
                      instance=instance)
