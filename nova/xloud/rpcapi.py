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

"""Client side of the XLoud compute RPC API.

nova-compute serves it as an additional endpoint on the compute topic, in
its own oslo.messaging namespace, ``xloud``, versioned on its own:

* 1.0 - Initial version: xloud_adjust()
* 1.1 - Add xloud_resolve()
* 1.2 - Add xloud_heal()

Upstream's compute RPC API, its version and the service version are left
alone, so they never collide with a later upstream release.
"""

import oslo_messaging as messaging

from nova.compute import rpcapi as compute_rpcapi
from nova.objects import base as objects_base
from nova import rpc
from nova.xloud import inflight

NAMESPACE = 'xloud'
VERSION = '1.2'

#: The key of a compute node's stats under which its nova-compute says it
#: serves the namespace, and at which version. The resource tracker clears
#: a node's stats every time it updates the node, so a compute that is
#: downgraded to upstream Nova drops it when it starts.
STATS_KEY = 'xloud_rpc'

_ROUTER = None


class XloudComputeAPI:

    @property
    def router(self):
        # Lazy, like upstream's ComputeAPI.router: constructing the API must
        # not need the RPC transport.
        global _ROUTER
        if _ROUTER is None:
            target = messaging.Target(topic=compute_rpcapi.RPC_TOPIC,
                                      namespace=NAMESPACE, version=VERSION)
            client = rpc.get_client(
                target, version_cap=VERSION,
                serializer=objects_base.NovaObjectSerializer())
            # ClientRouter follows the context's cell message queue.
            _ROUTER = rpc.ClientRouter(client)
        return _ROUTER

    def xloud_adjust(self, ctxt, instance, vcpus, memory_mb, persist):
        """Apply a validated, claimed adjust on the instance's host.

        :param vcpus: the new vCPU count, or None to leave it
        :param memory_mb: the new memory in MiB, or None to leave it
        :param persist: whether the next boot uses the new sizes too
        """
        client = self.router.client(ctxt)
        cctxt = client.prepare(
            server=compute_rpcapi._compute_host(None, instance),
            version='1.0')
        cctxt.cast(ctxt, 'xloud_adjust', instance=instance, vcpus=vcpus,
                   memory_mb=memory_mb, persist=persist)

    def xloud_resolve(self, ctxt, instance):
        """Have the instance's host resolve its adjust in flight now.

        The host reads what the guest has from the hypervisor, as it does
        for an adjust left by a restart or a lost message.

        :returns: the sizes the server runs at afterwards, or None when
            the adjust had ended meanwhile
        """
        client = self.router.client(ctxt)
        cctxt = client.prepare(
            server=compute_rpcapi._compute_host(None, instance),
            version='1.1')
        return cctxt.call(ctxt, 'xloud_resolve', instance=instance,
                          token=inflight.token(instance))

    def xloud_heal(self, ctxt, instance, record):
        """Have the instance's host make its allocation what its guest has.

        Under the server's lock, the host re-reads the server, leaves it
        alone if it has a task or if its XLoud record is no longer
        ``record`` (as the caller read it), and otherwise sets the
        allocation to what the hypervisor says the guest has.

        :returns: (outcome, sizes): ('healed', sizes), or ('busy', None)
            or ('changed', None)
        """
        client = self.router.client(ctxt)
        cctxt = client.prepare(
            server=compute_rpcapi._compute_host(None, instance),
            version='1.2')
        return cctxt.call(ctxt, 'xloud_heal', instance=instance,
                          record=record)


def advertise(stats, driver):
    """Add what this compute serves to its compute node's stats.

    Only where the driver can adjust servers live: an XLoud compute whose
    driver cannot is no better than an upstream one.
    """
    if driver.capabilities.get('supports_xloud_adjust') is True:
        stats[STATS_KEY] = VERSION


def served_by(compute_node):
    """The xloud RPC version the node's compute serves, or None."""
    return (compute_node.stats or {}).get(STATS_KEY)


def reset_router():
    """For tests: forget the cached router."""
    global _ROUTER
    _ROUTER = None
