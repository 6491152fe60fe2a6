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

"""Validators for the XLoud ``minimum_*`` extra specs.

A flavor's ``vcpus`` and ``memory_mb`` are the most a server of that flavor
may have. ``minimum_cpu`` and ``minimum_memory`` declare the least: such a
server boots at the minimum and can be adjusted live between the two.
"""

from nova.api.validation.extra_specs import base


EXTRA_SPEC_VALIDATORS = [
    base.ExtraSpecValidator(
        name='minimum_cpu',
        description=(
            'The number of vCPUs a server of this flavor boots with and '
            'can be shrunk to live. The flavor\'s ``vcpus`` is the most it '
            'can be grown to. Only supported by the libvirt virt driver.'
        ),
        value={
            'type': int,
            'min': 1,
            'description': 'The minimum number of online vCPUs.',
        },
    ),
    base.ExtraSpecValidator(
        name='minimum_memory',
        description=(
            'The memory, in MiB, a server of this flavor boots with and can '
            'be shrunk to live through the memory balloon. The flavor\'s '
            '``memory_mb`` is the most it can be grown to. Only supported by '
            'the libvirt virt driver.'
        ),
        value={
            'type': int,
            'min': 1,
            'description': 'The minimum guest memory in MiB.',
        },
    ),
]


def register():
    return EXTRA_SPEC_VALIDATORS
