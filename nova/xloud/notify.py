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

"""Tell telemetry and billing what an adjust did, and what a server runs at.

Each phase of an adjust (start, end, error) is a versioned notification,
``instance.xloud_adjust.<phase>`` (nova/notifications/objects/xloud.py).
``instance.xloud_size`` tells the size a server runs at, on every path
that may have set it (:func:`size`): it is what billing rates. Both are
sent when ``[notifications]notification_format`` is ``versioned`` or
``both``. Nova allows no new legacy (unversioned) notifications; with
``unversioned`` only upstream's own ``compute.instance.update`` tells of
an adjust. Sending never fails an adjust: a notification that cannot be
sent is logged.
"""

from oslo_log import log as logging

import nova.conf
from nova.notifications.objects import base as notification_base
from nova.notifications.objects import exception as notification_exception
from nova.notifications.objects import xloud as xloud_notification
from nova.objects import fields
from nova import rpc

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

START = 'start'
END = 'end'
ERROR = 'error'


@rpc.if_notifications_enabled
def _versioned(context, instance, host, phase, old, new, persist,
               exception):
    fault = None
    priority = fields.NotificationPriority.INFO
    if exception is not None:
        fault = notification_exception.ExceptionPayload.from_exception(
            exception)
        priority = fields.NotificationPriority.ERROR
    notification = xloud_notification.XloudAdjustNotification(
        priority=priority,
        publisher=notification_base.NotificationPublisher(
            host=host, source=fields.NotificationSource.COMPUTE),
        event_type=xloud_notification.XloudEventType(phase=phase),
        payload=xloud_notification.XloudAdjustPayload(
            context=context, instance=instance, old=old, new=new,
            persist=persist, fault=fault))
    notification.emit(context)


@rpc.if_notifications_enabled
def _size(context, instance, host, sizes):
    notification = xloud_notification.XloudSizeNotification(
        priority=fields.NotificationPriority.INFO,
        publisher=notification_base.NotificationPublisher(
            host=host, source=fields.NotificationSource.COMPUTE),
        event_type=xloud_notification.XloudEventType(
            phase=None, action='xloud_size'),
        payload=xloud_notification.XloudSizePayload(
            context=context, instance=instance, sizes=sizes))
    notification.emit(context)


def size(context, instance, sizes):
    """Tell what the server runs at now: ``instance.xloud_size``.

    Sent after a boot, an adjust or its resolution, and every path that
    boots the guest again (nova/xloud/placement.py follow_guest), whether
    or not the size changed, so a billing gauge always has a fresh sample.

    :param sizes: {'vcpus': n, 'memory_mb': m}, what the guest has
    """
    try:
        _size(context, instance, CONF.host, sizes)
    except Exception:
        LOG.exception('Failed to send the instance.xloud_size notification',
                      instance=instance)


def adjust(context, instance, host, phase, old, new, persist,
           exception=None):
    """Notify about one phase of an adjust.

    :param old: {'vcpus': n, 'memory_mb': m} before the adjust
    :param new: what was asked for (start), or what the guest has (end,
        error)
    :param exception: what failed the adjust (error)
    """
    try:
        _versioned(context, instance, host, phase, old, new, persist,
                   exception)
    except Exception:
        LOG.exception('Failed to send the instance.xloud_adjust.%s '
                      'notification', phase, instance=instance)
