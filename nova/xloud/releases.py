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

"""Where the Nova releases XLoud supports differ, in one place.

The overlay is the same code on every release (upstream.toml lists
them). What an older release lacks is bridged here, by feature, never by
version number, so the newest release runs upstream's code unchanged.
"""

from nova.api import validation
from nova.limit import utils as limit_utils


def validated(cls):
    """Mark an API controller as validated, where the release can.

    Nova 33 added ``nova.api.validation.validated``, which marks a
    controller whose every method has request and response schemas (its
    tests check that every controller is marked). Nova 31 has the schemas
    but not the mark.
    """
    mark = getattr(validation, 'validated', None)
    return mark(cls) if mark else cls


def response_body_schema(schema):
    """Validate an API method's response body, where the release can.

    Nova 31 added ``nova.api.validation.response_body_schema`` (and the
    ``[api] response_validation`` option it reads). Nova 29 validates no
    response: there the method is returned as it is, and the response
    schemas are proven by our API tests on the releases that check them.
    """
    decorator = getattr(validation, 'response_body_schema', None)
    if decorator:
        return decorator(schema)
    return lambda func: func


def should_enforce(over_limit):
    """Whether a unified limit that ``over_limit`` exceeds is enforced.

    Nova 30 added ``nova.limit.utils.should_enforce``, which leaves out
    limits that are unset or unlimited under ``[quota]
    unified_limits_resource_strategy``. Nova 29 has neither: it enforces
    every limit oslo.limit reports exceeded, and so does the adjust there.
    """
    check = getattr(limit_utils, 'should_enforce', None)
    return check(over_limit) if check else True
