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

"""The adjust in flight on a server, as its record says.

While an adjust is in flight the server's task_state is ADJUSTING, and its
system_metadata holds the adjust's token and when it began. The token is
the request ID of the API call that began it, so a message can be told
from a stale or duplicated one (it carries the token it was sent with),
and the instance action it belongs to can be found again after a restart.
"""

import datetime

from oslo_utils import timeutils

#: The task_state of a server while an adjust is in flight.
ADJUSTING = 'xloud_adjusting'
#: The instance action of an adjust, as os-instance-actions lists it.
ACTION = 'xloud-adjust'

SYSMETA_TOKEN = 'xloud_adjust_token'
SYSMETA_SINCE = 'xloud_adjust_since'


def _sysmeta(instance):
    if not instance.obj_attr_is_set('system_metadata'):
        return {}
    return instance.system_metadata or {}


def begin(context, instance):
    """Mark an adjust in flight; the caller saves the instance."""
    instance.task_state = ADJUSTING
    instance.system_metadata[SYSMETA_TOKEN] = context.request_id
    instance.system_metadata[SYSMETA_SINCE] = (
        timeutils.utcnow().isoformat())


def end(instance):
    """Clear the adjust in flight; the caller saves the instance."""
    instance.task_state = None
    for key in (SYSMETA_TOKEN, SYSMETA_SINCE):
        instance.system_metadata.pop(key, None)


def token(instance):
    """The token of the adjust this record (or message) belongs to."""
    return _sysmeta(instance).get(SYSMETA_TOKEN)


def is_current(instance, message_token):
    """Whether an adjust carrying ``message_token`` is the one in flight.

    ``instance`` is the server as the database has it now.
    """
    return (instance.task_state == ADJUSTING and
            message_token is not None and
            token(instance) == message_token)


def still_in_flight(instance, known_token):
    """Whether the adjust that was in flight, as ``known_token``, still is.

    Unlike :func:`is_current`, an adjust without a token (begun by an
    older build, or left by a race) matches ``None``: whatever resolves
    adjusts in flight must resolve those too.
    """
    return (instance.task_state == ADJUSTING and
            token(instance) == known_token)


def age(instance, now=None):
    """How long the adjust in flight has been, as a timedelta.

    Adjusts begun before the token was recorded count from the last update
    of the server, which the API made when it set the task state.
    """
    now = now or timeutils.utcnow()
    since = _sysmeta(instance).get(SYSMETA_SINCE)
    try:
        began = timeutils.parse_isotime(since)
    except (TypeError, ValueError):
        began = instance.updated_at or instance.created_at
    if began is None:
        return datetime.timedelta(0)
    return timeutils.normalize_time(now) - timeutils.normalize_time(began)
