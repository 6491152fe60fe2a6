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

"""The project's quota, for the growth of an adjust.

Where usage is counted from placement (``[quota]
count_usage_from_placement``, or the unified limits driver, which always
counts it there), a project uses what its servers are allocated: the size
each runs at. An adjust that grows a server then grows the project's usage,
and is refused past its quota, as a resize would be. Shrinking is never
held back.

Legacy counting (from the database, the default) charges every server its
flavor's ``vcpus`` and ``memory_mb``, its maximum, whatever it runs at: an
adjust within the flavor's envelope never changes that usage, so it is not
checked.
"""

from oslo_limit import exception as limit_exceptions
from oslo_limit import limit

import nova.conf
from nova import exception
from nova.i18n import _
from nova.limit import utils as limit_utils
from nova import objects
from nova.objects import quotas as quotas_obj
from nova.scheduler.client import report
from nova.xloud import releases

CONF = nova.conf.CONF

#: Growth by resource class, as the legacy quota names it.
LEGACY = {'VCPU': 'cores', 'MEMORY_MB': 'ram'}


class XloudOverQuota(exception.NovaException):
    code = 403
    msg_fmt = _("Quota exceeded for %(resources)s: growing server %(uuid)s "
                "by %(deltas)s would take project %(project)s past its "
                "limit; nothing was changed.")


def check_growth(context, instance, growth):
    """Refuse growth past the project's quota.

    :param growth: {'VCPU': n, 'MEMORY_MB': m}, the amounts the adjust adds
        (positive; a class left out does not grow)
    :raises: XloudOverQuota
    """
    growth = {rc: n for rc, n in growth.items() if n > 0}
    if not growth:
        return
    if limit_utils.use_unified_limits():
        _check_unified(context, instance, growth)
    elif CONF.quota.count_usage_from_placement:
        _check_legacy(context, instance, growth)


def _refuse(instance, resources, growth):
    raise XloudOverQuota(
        resources=', '.join(sorted(resources)), uuid=instance.uuid,
        project=instance.project_id,
        deltas=', '.join(f'{n} {rc}' for rc, n in sorted(growth.items())))


def _check_legacy(context, instance, growth):
    project_id, user_id = quotas_obj.ids_from_instance(context, instance)
    deltas = {LEGACY[rc]: n for rc, n in growth.items()}
    try:
        objects.Quotas.check_deltas(context, deltas, project_id,
                                    user_id=user_id,
                                    check_project_id=project_id,
                                    check_user_id=user_id)
    except exception.OverQuota as e:
        _refuse(instance, e.kwargs['overs'], growth)


def _check_unified(context, instance, growth):
    reportclient = report.report_client_singleton()

    def usage(project_id, resource_names):
        used = reportclient.get_usages_counts_for_limits(context,
                                                         project_id)
        return {name: used.get(name.split(':', 1)[1], 0)
                for name in resource_names}

    deltas = {f'class:{rc}': n for rc, n in growth.items()}
    try:
        limit.Enforcer(usage).enforce(instance.project_id, deltas)
    except limit_exceptions.ProjectOverLimit as e:
        if releases.should_enforce(e):
            _refuse(instance, [info.resource_name
                               for info in e.over_limit_info_list], growth)
