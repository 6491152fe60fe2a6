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

"""The os-xloud-adjust API: a server's vCPUs and memory, adjusted live."""

from webob import exc

from nova.api.openstack import common
from nova.api.openstack.compute.schemas import xloud_adjust as schema
from nova.api.openstack import wsgi
from nova.api import validation
from nova.compute import api as compute
from nova import exception
from nova.i18n import _
from nova.policies import migrate_server as ms_policies
from nova.policies import xloud_adjust as xa_policies
from nova.xloud import api as xloud_api
from nova.xloud import moving
from nova.xloud import placement
from nova.xloud import quota
from nova.xloud import releases
from nova.xloud import sizing


@releases.validated
class XloudAdjustController(wsgi.Controller):

    def __init__(self):
        super().__init__()
        self.compute_api = compute.API()
        self.xloud_api = xloud_api.API(compute_api=self.compute_api)

    @wsgi.expected_errors((404, 503))
    @validation.query_schema(schema.show_query)
    @releases.response_body_schema(schema.show_response)
    def show(self, req, id):
        """The server's envelope, current sizes and allocation."""
        context = req.environ['nova.context']
        server = common.get_instance(self.compute_api, context, id,
                                     expected_attrs=['flavor',
                                                     'system_metadata'])
        context.can(xa_policies.POLICY_ROOT % 'show',
                    target={'project_id': server.project_id})
        try:
            return {'xloud_adjust': self.xloud_api.show(context, server)}
        except xloud_api.XloudPlacementUnavailable as e:
            raise exc.HTTPServiceUnavailable(explanation=e.format_message())

    @wsgi.response(202)
    @wsgi.expected_errors((400, 403, 404, 409, 503))
    @validation.schema(schema.adjust)
    @releases.response_body_schema(schema.adjust_response)
    def adjust(self, req, id, body):
        """Grow or shrink the server's vCPUs and memory, live."""
        for key in ('current_vcpus', 'current_memory_mb'):
            # JSON Schema's "integer" admits 2.0; a size must be written as
            # an integer, so nothing is ever truncated or rounded.
            if isinstance(body.get(key), float):
                raise exc.HTTPBadRequest(
                    explanation=_('%(key)s must be an integer, not '
                                  '%(value)r.') % {'key': key,
                                                   'value': body[key]})
        context = req.environ['nova.context']
        server = common.get_instance(self.compute_api, context, id,
                                     expected_attrs=['flavor',
                                                     'system_metadata'])
        context.can(xa_policies.POLICY_ROOT % 'adjust',
                    target={'project_id': server.project_id})
        live_migrate = body.get('live_migrate', False)
        if live_migrate:
            # it may move the server: as if live migration were asked
            context.can(ms_policies.POLICY_ROOT % 'migrate_live',
                        target={'project_id': server.project_id})
        try:
            self.xloud_api.adjust(
                context, server, vcpus=body.get('current_vcpus'),
                memory_mb=body.get('current_memory_mb'),
                persist=body.get('persist', True),
                live_migrate=live_migrate)
        except sizing.XloudEnvelopeInvalid as e:
            raise exc.HTTPBadRequest(explanation=e.format_message())
        except quota.XloudOverQuota as e:
            raise exc.HTTPForbidden(explanation=e.format_message())
        except exception.InstanceIsLocked as e:
            raise exc.HTTPConflict(explanation=e.format_message())
        except exception.InstanceInvalidState as e:
            common.raise_http_conflict_for_instance_invalid_state(
                e, 'xloud-adjust', id)
        except (placement.XloudHostFull,
                placement.XloudAllocationConflict,
                moving.XloudNoHostFits,
                moving.XloudCannotMove,
                xloud_api.XloudHostCannotAdjust,
                xloud_api.XloudHostDown) as e:
            raise exc.HTTPConflict(explanation=e.format_message())
        except (xloud_api.XloudPlacementUnavailable,
                xloud_api.XloudComputeUnreachable) as e:
            raise exc.HTTPServiceUnavailable(explanation=e.format_message())
