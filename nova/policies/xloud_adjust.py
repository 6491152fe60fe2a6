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

from oslo_policy import policy

from nova.policies import base


POLICY_ROOT = 'os_compute_api:xloud:%s'


xloud_adjust_policies = [
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % 'adjust',
        check_str=base.ADMIN,
        description="Grow or shrink a server's vCPUs and memory live, "
                    "within the envelope its flavor declares",
        operations=[
            {
                'path': '/os-xloud-adjust/{server_id}',
                'method': 'POST'
            }
        ],
        scope_types=['project']
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % 'show',
        check_str=base.ADMIN,
        description="Show a server's sizing envelope: its minimum, maximum "
                    "and current vCPUs and memory, what its next boot uses "
                    "and its placement allocation",
        operations=[
            {
                'path': '/os-xloud-adjust/{server_id}',
                'method': 'GET'
            }
        ],
        scope_types=['project']
    ),
]


def list_rules():
    return xloud_adjust_policies
