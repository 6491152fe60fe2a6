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

import fixtures
from oslo_utils.fixture import uuidsentinel as uuids

from nova.api.openstack.compute import xloud_adjust
from nova.compute import vm_states
import nova.conf
from nova.policies import xloud_adjust as policies
from nova.tests.unit.api.openstack import fakes
from nova.tests.unit import fake_instance
from nova.tests.unit.policies import base

CONF = nova.conf.CONF


def _scope_enforced():
    """Whether these tests run with the policies' scope enforced.

    The one difference between the Nova releases XLoud supports here:
    nova 34 (oslo.policy 6) always enforces scope, while the policy tests
    of earlier releases turn ``[oslo_policy] enforce_scope`` off in their
    base class. Without scope enforcement a system-scoped admin passes
    admin-only rules, ours as upstream's own.
    """
    return getattr(CONF.oslo_policy, 'enforce_scope', True)


def _resource(minimum, maximum, current):
    return {'minimum': minimum, 'maximum': maximum, 'current': current,
            'next_boot': current, 'allocated': current, 'adjustable': True}


class XloudAdjustPolicyTest(base.BasePolicyTest):
    """Test os-xloud-adjust APIs policies with all possible context.

    This class defines the set of context with different roles
    which are allowed and not allowed to pass the policy checks.
    With those set of context, it will call the API operation and
    verify the expected behaviour.
    """

    def setUp(self):
        super().setUp()
        self.controller = xloud_adjust.XloudAdjustController()
        self.req = fakes.HTTPRequest.blank('')

        self.mock_get_instance = self.useFixture(
            fixtures.MockPatch('nova.api.openstack.common.get_instance')).mock
        self.instance = fake_instance.fake_instance_obj(
            self.project_member_context, project_id=self.project_id,
            id=1, uuid=uuids.fake_id, vm_state=vm_states.ACTIVE,
            task_state=None)
        self.mock_get_instance.return_value = self.instance

        self.mock_adjust = self.useFixture(
            fixtures.MockPatch('nova.xloud.api.API.adjust')).mock
        self.mock_show = self.useFixture(
            fixtures.MockPatch('nova.xloud.api.API.show')).mock
        self.mock_show.return_value = {
            'server_id': self.instance.uuid,
            'vcpus': _resource(1, 4, 2),
            'memory_mb': _resource(512, 2048, 1024),
            'phase': None,
        }

        # With legacy rule, any admin is able to adjust a server and see
        # its sizing envelope.
        self.project_admin_authorized_contexts = [
            self.legacy_admin_context,
            self.project_admin_context]
        if not _scope_enforced():
            self.project_admin_authorized_contexts.append(
                self.system_admin_context)

    def test_adjust_policy(self):
        rule_name = policies.POLICY_ROOT % 'adjust'
        self.common_policy_auth(self.project_admin_authorized_contexts,
                                rule_name, self.controller.adjust,
                                self.req, self.instance.uuid,
                                body={'current_vcpus': 2})
        # only the authorized ones got as far as adjusting
        self.assertEqual(len(self.project_admin_authorized_contexts),
                         self.mock_adjust.call_count)

    def test_show_policy(self):
        rule_name = policies.POLICY_ROOT % 'show'
        self.common_policy_auth(self.project_admin_authorized_contexts,
                                rule_name, self.controller.show,
                                self.req, self.instance.uuid)


class XloudAdjustNoLegacyPolicyTest(XloudAdjustPolicyTest):
    """Test os-xloud-adjust APIs policies with deprecated rules
    disabled.
    """

    without_deprecated_rules = True


class XloudAdjustOverridePolicyTest(XloudAdjustNoLegacyPolicyTest):
    """Test os-xloud-adjust APIs policies with the rules opened to
    project members by an operator. Both rules are project scoped, so an
    override to a project role works.
    """

    def setUp(self):
        super().setUp()
        self.policy.set_rules({
            policies.POLICY_ROOT % 'adjust': 'rule:project_member_api',
            policies.POLICY_ROOT % 'show': 'rule:project_member_api'},
            overwrite=False)

        # Check that project member role as override above is able to
        # adjust a server and see its envelope.
        self.project_admin_authorized_contexts = [
            self.project_admin_context, self.project_member_context]
        # nova 33 added the manager role (a member too); 31 has none
        manager = getattr(self, 'project_manager_context', None)
        if manager is not None:
            self.project_admin_authorized_contexts.append(manager)
