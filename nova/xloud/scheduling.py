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

"""Where a server with a minimum may be scheduled."""

from oslo_log import log as logging

from nova.xloud import placement
from nova.xloud import sizing

LOG = logging.getLogger(__name__)


def require_minimum_support(ctxt, request_spec):
    """A request filter: minimums go only to hosts that honour them.

    Placement allocates a flavor's minimum. Only a host whose nova-compute
    is XLoud's, with a driver that can run a guest below its maximum,
    boots the guest at that minimum; such hosts report the XLoud trait.
    Anywhere else the guest would run at its maximum on an allocation of
    its minimum. Registered in nova.scheduler.request_filter.
    """
    flavor = request_spec.flavor
    if (sizing.minimum_vcpus(flavor) is None and
            sizing.minimum_memory_mb(flavor) is None):
        return True
    request_spec.root_required.add(placement.TRAIT)
    LOG.debug('require_minimum_support request filter added required '
              'trait %s', placement.TRAIT)
    return True
