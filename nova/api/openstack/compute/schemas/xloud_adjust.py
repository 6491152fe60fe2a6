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

# Strict integers: no strings, no floats (so no silent truncation), no
# booleans. The envelope check against the flavor comes after the schema.
_size = {'type': 'integer', 'minimum': 1, 'maximum': 2 ** 31 - 1}

adjust = {
    'type': 'object',
    'properties': {
        'current_vcpus': _size,
        'current_memory_mb': _size,
        'persist': {'type': 'boolean'},
        # where the host lacks room for the growth: move the server, live,
        # to a host that has it (nova.xloud.moving)
        'live_migrate': {'type': 'boolean'},
    },
    'anyOf': [
        {'required': ['current_vcpus']},
        {'required': ['current_memory_mb']},
    ],
    'additionalProperties': False,
}

adjust_response = {
    'type': 'null',
}

# A new API: no query parameters, and unknown ones are refused.
show_query = {
    'type': 'object',
    'properties': {},
    'additionalProperties': False,
}

_nullable_size = {'type': ['integer', 'null'], 'minimum': 1}

_resource = {
    'type': 'object',
    'properties': {
        'minimum': _nullable_size,
        'maximum': {'type': 'integer', 'minimum': 1},
        'current': {'type': 'integer', 'minimum': 1},
        'next_boot': {'type': 'integer', 'minimum': 1},
        'allocated': _nullable_size,
        'adjustable': {'type': 'boolean'},
        # vCPUs only, when a CPU cap holds the guest to "current"
        'plugged': {'type': 'integer', 'minimum': 1},
    },
    'required': ['minimum', 'maximum', 'current', 'next_boot', 'allocated',
                 'adjustable'],
    'additionalProperties': False,
}

show_response = {
    'type': 'object',
    'properties': {
        'xloud_adjust': {
            'type': 'object',
            'properties': {
                'server_id': {'type': 'string', 'format': 'uuid'},
                'vcpus': _resource,
                'memory_mb': _resource,
                # what runs: nothing, an adjust, or the move of a grow
                'phase': {'type': ['string', 'null'],
                          'enum': [None, 'adjusting', 'moving']},
            },
            'required': ['server_id', 'vcpus', 'memory_mb', 'phase'],
            'additionalProperties': False,
        },
    },
    'required': ['xloud_adjust'],
    'additionalProperties': False,
}
