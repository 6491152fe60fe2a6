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

"""Server side of the XLoud compute RPC API, in nova-compute.

ComputeManager adds an XloudComputeEndpoint to its additional endpoints.
"""

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import excutils

from nova.compute import manager as compute_manager
from nova.compute import utils as compute_utils
from nova import utils
from nova.xloud import placement
from nova.xloud import rpcapi
from nova.xloud import sizing

LOG = logging.getLogger(__name__)

ADJUSTING = sizing.ADJUSTING


class XloudComputeEndpoint:

    target = messaging.Target(namespace=rpcapi.NAMESPACE,
                              version=rpcapi.VERSION)

    def __init__(self, manager):
        self.manager = manager
        self.host = manager.host

    @property
    def driver(self):
        return self.manager.driver

    @property
    def reportclient(self):
        return self.manager.reportclient

    @messaging.expected_exceptions(NotImplementedError)
    @compute_manager.wrap_exception()
    @compute_utils.wrap_instance_event(prefix='compute')
    @compute_manager.wrap_instance_fault
    def xloud_adjust(self, context, instance, vcpus, memory_mb, persist):
        @utils.synchronized(instance.uuid)
        def do_adjust():
            self._adjust(context, instance, vcpus, memory_mb, persist)
        do_adjust()

    def _adjust(self, context, instance, vcpus, memory_mb, persist):
        before = sizing.live(instance)
        wanted = dict(before)
        if vcpus is not None:
            wanted['vcpus'] = vcpus
        if memory_mb is not None:
            wanted['memory_mb'] = memory_mb
        try:
            result = self.driver.xloud_adjust(
                instance, wanted['vcpus'], wanted['memory_mb'], persist)
        except Exception as e:
            with excutils.save_and_reraise_exception():
                # Whatever the hypervisor managed before it failed is what
                # the guest runs at; make the record and the allocation say
                # so, then fail the action with a fault.
                actual = getattr(e, 'live', None) or before
                LOG.warning('Adjusting failed, the guest runs at %s: %s',
                            actual, e, instance=instance)
                self._finish(context, instance, actual, persist=False)
        self._finish(context, instance, result or wanted, persist)

    def _finish(self, context, instance, sizes, persist):
        """Record ``sizes`` and make the allocation match them."""
        try:
            placement.resize(self.reportclient, context, instance.uuid,
                             {'VCPU': sizes['vcpus'],
                              'MEMORY_MB': sizes['memory_mb']})
        except Exception:
            LOG.exception('Could not set the allocation of the server to '
                          '%s', sizes, instance=instance)
        sizing.record(instance, sizes, persist)
        instance.task_state = None
        instance.save(expected_task_state=[ADJUSTING])
