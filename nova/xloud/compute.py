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

"""Server side of the XLoud compute RPC API, in nova-compute.

What ComputeManager calls: it adds an XloudComputeEndpoint to its
additional endpoints, resolves at start-up every adjust its host had in
flight (:func:`resolve_at_start`, from ``_init_instance``), resolves lost
ones periodically (:func:`resolve_lost`), tells billing what a server
booted at (:func:`booted`) and has the allocation follow every guest it
(re)starts (:func:`follow_guest`). How an adjust ends is in
:mod:`nova.xloud.recovery`.

What it asks of the virt driver, whose capability ``supports_xloud_adjust``
(the ``CUSTOM_XLOUD_ADJUST`` trait) says it can:

``xloud_adjust(instance, vcpus, memory_mb, persist)``
    Set the instance's vCPUs and memory (MiB) live, within its flavor's
    envelope (the API checked it), and for its next boot too when
    ``persist``; a stopped instance changes only for its next boot.
    Returns ``{'vcpus': n, 'memory_mb': m}``, what the guest runs with;
    raises ``nova.xloud.records.XloudAdjustFailed``, carrying that, when the
    hypervisor fails part-way.
``xloud_sizes(instance)``
    ``{'vcpus': n, 'memory_mb': m}``, what the guest has now, read from the
    hypervisor, so that an interrupted adjust is resolved from what really
    happened.

ComputeDriver declares both, raising NotImplementedError;
nova/virt/libvirt/xloud.py implements them for libvirt.
"""

import collections
import sys

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import excutils

from nova.compute import utils as compute_utils
import nova.conf
from nova import exception_wrapper
from nova.i18n import _
from nova import objects
from nova import utils
from nova.xloud import inflight
from nova.xloud import moving
from nova.xloud import notify
from nova.xloud import placement
from nova.xloud import records
from nova.xloud import recovery
from nova.xloud import rpcapi
from nova.xloud import sizing

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

ADJUSTING = inflight.ADJUSTING
#: The tokens of the adjusts this nova-compute has received and not yet
#: finished, with how many of their messages are being handled (a message
#: the broker delivers twice must not end the first one's claim). The only
#: thing that can stop an adjust not in here from arriving is a lost
#: message: resolve_lost() resolves those after [xloud] adjust_timeout, and
#: leaves these alone however long they take.
_RECEIVED = collections.Counter()


class XloudComputeEndpoint:

    target = messaging.Target(namespace=rpcapi.NAMESPACE,
                              version=rpcapi.VERSION)

    def __init__(self, manager):
        self.manager = manager
        self.host = manager.host

    @property
    def driver(self):
        return self.manager.driver

    @property
    def reportclient(self):
        return self.manager.reportclient

    @messaging.expected_exceptions(NotImplementedError)
    @exception_wrapper.wrap_exception(service='compute',
                                      binary='nova-compute')
    def xloud_adjust(self, context, instance, vcpus, memory_mb, persist):
        # The token the API recorded when it began this adjust, as the
        # message carries it.
        token = inflight.token(instance)
        _RECEIVED[token] += 1
        try:
            self._locked_adjust(context, instance, token, vcpus, memory_mb,
                                persist)
        finally:
            _RECEIVED[token] -= 1
            if _RECEIVED[token] <= 0:
                del _RECEIVED[token]

    def _locked_adjust(self, context, instance, token, vcpus, memory_mb,
                       persist):
        @utils.synchronized(instance.uuid)
        def do_adjust():
            instance.refresh()
            if not inflight.is_current(instance, token):
                # Resolved at start-up or as lost, or a duplicate: the
                # hypervisor and placement stay as they are.
                LOG.warning('Ignoring a stale adjust message (token %s); '
                            'the server is in task state %s with token %s',
                            token, instance.task_state,
                            inflight.token(instance), instance=instance)
                if token is None and inflight.still_in_flight(instance,
                                                              None):
                    # An adjust without a token (begun by an older build)
                    # cannot be told from a stale one: it ends here, from
                    # what the hypervisor says, rather than never.
                    recovery.resolve(self.manager, context, instance,
                            _('its message carried no token'))
                return
            with compute_utils.EventReporter(context, recovery.EVENT,
                                             self.host, instance.uuid):
                try:
                    self._adjust(context, instance, vcpus, memory_mb,
                                 persist)
                except Exception as e:
                    with excutils.save_and_reraise_exception():
                        compute_utils.add_instance_fault_from_exc(
                            context, instance, e, sys.exc_info())
        do_adjust()

    @messaging.expected_exceptions(recovery.XloudServerBusy)
    def xloud_resolve(self, context, instance, token):
        """Resolve the adjust in flight now (nova-manage xloud audit --fix).

        :returns: the sizes the server runs at afterwards, or None when
            the adjust ``token`` names is no longer in flight
        :raises: XloudServerBusy, at once, when the adjust (or another
            operation on the server) is still running
        """
        def do_resolve():
            instance.refresh()
            if not inflight.still_in_flight(instance, token):
                return None
            recovery.resolve(self.manager, context, instance,
                    _('nova-manage xloud audit --fix resolved it'))
            return records.live(instance)
        return recovery.unless_busy(instance, do_resolve)

    def xloud_heal(self, context, instance, record):
        """Make the allocation what the guest has (nova-manage xloud audit).

        Under the server's lock, so no adjust or resolve runs meanwhile.
        The audit read ``record`` a while ago: a server that has a task
        now, or whose record changed since, is left alone, and the audit
        says so. Otherwise the hypervisor, not the record, says what the
        allocation is set to, and the record is made to say it too.

        :returns: ('healed', sizes), ('busy', None) or ('changed', None)
        """
        def do_heal():
            instance.refresh()
            if instance.task_state is not None:
                return 'busy', None
            if records.record_of(instance) != record:
                return 'changed', None
            sizes = self.driver.xloud_sizes(instance)
            placement.resize(self.reportclient, context, instance.uuid,
                             {'VCPU': sizes['vcpus'],
                              'MEMORY_MB': sizes['memory_mb']},
                             rp_uuid=placement.provider_of(context,
                                                           instance))
            if records.live(instance) != {
                    'vcpus': sizes['vcpus'],
                    'memory_mb': sizes['memory_mb']}:
                records.record(instance, sizes, persist=False)
                instance.save(expected_task_state=[None])
            return 'healed', sizes
        try:
            return recovery.unless_busy(instance, do_heal)
        except recovery.XloudServerBusy:
            return 'busy', None

    def _adjust(self, context, instance, vcpus, memory_mb, persist):
        before = records.live(instance)
        wanted = dict(before)
        if vcpus is not None:
            wanted['vcpus'] = vcpus
        if memory_mb is not None:
            wanted['memory_mb'] = memory_mb
        notify.adjust(context, instance, self.host, notify.START, before,
                      wanted, persist)
        try:
            result = self.driver.xloud_adjust(
                instance, wanted['vcpus'], wanted['memory_mb'], persist)
        except Exception as e:
            with excutils.save_and_reraise_exception():
                # Whatever the hypervisor managed before it failed is what
                # the guest runs at; make the record and the allocation say
                # so, then fail the action with a fault.
                actual = getattr(e, 'live', None) or before
                LOG.warning('Adjusting failed, the guest runs at %s: %s',
                            actual, e, instance=instance)
                recovery.finish(self.reportclient, context, instance, actual,
                        persist=False)
                # recorded for this boot only, whatever was asked
                notify.adjust(context, instance, self.host, notify.ERROR,
                              before, actual, False, exception=e)
        result = result or wanted
        recovery.finish(self.reportclient, context, instance, result, persist)
        notify.adjust(context, instance, self.host, notify.END, before,
                      result, persist)


def booted(context, instance):
    """From ComputeManager._build_and_run_instance: a server has booted.

    Tells billing the size it booted at (``instance.xloud_size``): a server
    never adjusted is rated from its first boot. Never raises.
    """
    try:
        if sizing.has_minimum(instance.flavor):
            notify.size(context, instance, records.live(instance))
    except Exception:
        LOG.exception('Could not tell the size the server booted at',
                      instance=instance)


def follow_guest(manager, context, instance):
    """The compute manager's call after every operation that (re)starts
    the guest: :func:`nova.xloud.placement.follow_guest`.
    """
    if moving.arrived(manager, context, instance):
        return  # the claim the move made is the grow's
    placement.follow_guest(manager.reportclient, context, instance,
                           manager.driver)


def resolve_at_start(manager, context, instance):
    """From ComputeManager._init_instance: an adjust the last run left.

    Before nova-compute serves RPC, so any message of that adjust still
    queued arrives stale and changes nothing. A server with no record
    (built before XLoud was installed on this host) gets one, from what
    its guest has. Never raises.
    """
    if instance.task_state != ADJUSTING:
        recovery.record_from_guest(manager, context, instance)
        return
    recovery.resolve_safely(manager, context, instance,
                    _('nova-compute restarted'))


def resolve_lost(manager, context):
    """The periodic task: resolve adjusts whose message was lost.

    An adjust in flight on this host for [xloud] adjust_timeout whose
    message this nova-compute has not received was lost (the broker
    dropped it, say, because it came while this host's queue was gone).
    An adjust received is left alone, however long its work takes, and a
    message that arrives after all finds its token gone and changes
    nothing. Also ends the grows whose move ended without them
    (:func:`nova.xloud.moving.unfinished_moves`).
    """
    instances = objects.InstanceList.get_by_filters(
        context, {'host': manager.host, 'task_state': ADJUSTING,
                  'deleted': False},
        expected_attrs=['system_metadata', 'flavor'])
    for instance in instances:
        age = inflight.age(instance).total_seconds()
        if (age < CONF.xloud.adjust_timeout or
                inflight.token(instance) in _RECEIVED):
            continue
        recovery.resolve_safely(
            manager, context, instance,
            _('no answer for %d seconds; its message was probably lost')
            % age)
    # and a grow whose move ended without it
    moving.unfinished_moves(manager, context)
