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

"""Versioned notifications of XLoud's live adjust.

``instance.xloud_adjust.start``, ``.end`` and ``.error`` carry the sizes a
server had before and has after an adjust. ``instance.xloud_size`` carries
the size a server runs at, each time something may have set it: a boot,
an adjust (or its resolution), and every reboot, start, move, revert,
restore or evacuation that boots its guest again. It is what billing rates
(doc/source/admin/xloud-ceilometer-meters.yaml). Their event type is an
object of its own: upstream's EventType takes its action from an enum that
only upstream may extend (the enum is part of EventType's hash and
version).

This module also keeps upstream's instance payloads valid while an adjust
is in flight; see :func:`as_reported`.
"""

from nova.notifications.objects import base
from nova.objects import base as nova_base
from nova.objects import fields
from nova.xloud import inflight


class _Reported:
    """An instance as upstream's InstancePayload may report it."""

    task_state = None

    def __init__(self, instance):
        self._instance = instance

    def __getattr__(self, name):
        return getattr(self._instance, name)


def as_reported(instance):
    """The instance, for populating upstream's InstancePayload.

    InstancePayload.task_state is an enum of upstream's task states, which
    lacks ADJUSTING; adding it would change the payload's schema and hash,
    which are upstream's. So while an adjust is in flight the payload
    reports no task state. ``instance.update`` still names the task in its
    ``state_update`` (plain strings), and the adjust has notifications of
    its own.
    """
    if instance.obj_attr_is_set('task_state') and (
            instance.task_state == inflight.ADJUSTING):
        return _Reported(instance)
    return instance


@nova_base.NovaObjectRegistry.register_notification
class XloudEventType(base.NotificationObject):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'object': fields.StringField(nullable=False),
        'action': fields.StringField(nullable=False),
        'phase': fields.StringField(nullable=True),
    }

    def __init__(self, phase, action='xloud_adjust'):
        super().__init__()
        self.object = 'instance'
        self.action = action
        self.phase = phase

    def to_notification_event_type_field(self):
        """Serialize the object to the wire format."""
        if self.phase is None:
            return '%s.%s' % (self.object, self.action)
        return '%s.%s.%s' % (self.object, self.action, self.phase)


#: What both payloads say of the server, read from the instance.
_SERVER_SCHEMA = {
    'uuid': ('instance', 'uuid'),
    'user_id': ('instance', 'user_id'),
    'tenant_id': ('instance', 'project_id'),
    'display_name': ('instance', 'display_name'),
    'host': ('instance', 'host'),
    'node': ('instance', 'node'),
}
_SERVER_FIELDS = {
    'uuid': fields.UUIDField(),
    'user_id': fields.StringField(nullable=True),
    'tenant_id': fields.StringField(nullable=True),
    'display_name': fields.StringField(nullable=True),
    'host': fields.StringField(nullable=True),
    'node': fields.StringField(nullable=True),
    'flavor_id': fields.StringField(),
}


@nova_base.NovaObjectRegistry.register_notification
class XloudAdjustPayload(base.NotificationPayloadBase):
    SCHEMA = _SERVER_SCHEMA
    # Version 1.0: Initial version
    VERSION = '1.0'
    fields = dict(_SERVER_FIELDS, **{
        'old_vcpus': fields.IntegerField(),
        'old_memory_mb': fields.IntegerField(),
        'new_vcpus': fields.IntegerField(),
        'new_memory_mb': fields.IntegerField(),
        'persist': fields.BooleanField(),
        'request_id': fields.StringField(nullable=True),
        'fault': fields.ObjectField('ExceptionPayload', nullable=True),
    })

    def __init__(self, context, instance, old, new, persist, fault=None):
        """``old`` and ``new`` are {'vcpus': n, 'memory_mb': m}.

        On ``start`` ``new`` is what was asked for; on ``end`` and
        ``error`` it is what the guest has.
        """
        super().__init__()
        self.flavor_id = instance.flavor.flavorid
        self.old_vcpus = old['vcpus']
        self.old_memory_mb = old['memory_mb']
        self.new_vcpus = new['vcpus']
        self.new_memory_mb = new['memory_mb']
        self.persist = persist
        self.request_id = context.request_id
        self.fault = fault
        self.populate_schema(instance=instance)


@base.notification_sample('instance-xloud_adjust-start.json')
@base.notification_sample('instance-xloud_adjust-end.json')
@base.notification_sample('instance-xloud_adjust-error.json')
@nova_base.NovaObjectRegistry.register_notification
class XloudAdjustNotification(base.NotificationBase):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'event_type': fields.ObjectField('XloudEventType'),
        'payload': fields.ObjectField('XloudAdjustPayload'),
    }


@nova_base.NovaObjectRegistry.register_notification
class XloudSizePayload(base.NotificationPayloadBase):
    SCHEMA = _SERVER_SCHEMA
    # Version 1.0: Initial version
    VERSION = '1.0'
    fields = dict(_SERVER_FIELDS, **{
        'vcpus': fields.IntegerField(),
        'memory_mb': fields.IntegerField(),
        'request_id': fields.StringField(nullable=True),
    })

    def __init__(self, context, instance, sizes):
        """``sizes`` is {'vcpus': n, 'memory_mb': m}: what the guest has."""
        super().__init__()
        self.flavor_id = instance.flavor.flavorid
        self.vcpus = sizes['vcpus']
        self.memory_mb = sizes['memory_mb']
        self.request_id = context.request_id
        self.populate_schema(instance=instance)


@base.notification_sample('instance-xloud_size.json')
@nova_base.NovaObjectRegistry.register_notification
class XloudSizeNotification(base.NotificationBase):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'event_type': fields.ObjectField('XloudEventType'),
        'payload': fields.ObjectField('XloudSizePayload'),
    }
