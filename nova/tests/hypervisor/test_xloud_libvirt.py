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

"""Boot at the minimum and adjust live, on real libvirt with a real guest.

Each test boots its own guest (they run one at a time: a TCG guest keeps
a core busy) and removes its domain, also when it fails.
"""

import time
from unittest import mock

from oslo_utils import units

from nova.tests.hypervisor import base
from nova.virt.libvirt import guest as libvirt_guest
from nova.xloud import inflight
from nova.xloud import sizing

MiB = units.Ki  # libvirt counts memory in KiB


class BootTest(base.RealLibvirtTestCase):

    def test_boot_at_the_minimum(self):
        instance = self.instance()
        self.boot(instance)
        # the domain holds the maximum and is defined at the minimum
        self.assertEqual((4, 1, 1024 * MiB, 256 * MiB),
                         self.defined(instance, inactive=True))
        start = time.monotonic()
        status = self.wait_for(instance, self.memory_near(256),
                               what='the balloon to reach 256 MiB')
        self.timing('balloon inflated to the boot size',
                    time.monotonic() - start)
        self.assertEqual((1, 1), (status['cpus'], status['present']))
        # libvirt's live view agrees once the balloon is there
        self.wait_for_balloon(instance, 256)
        self.assertEqual((4, 1, 1024 * MiB, 256 * MiB),
                         self.defined(instance))

    def test_libvirt_rejects_the_xml(self):
        instance = self.instance()
        config = self.guest_config(instance)
        config.vcpus_current = config.vcpus + 1  # more than the maximum
        error = self.assertRaises(base.libvirt.libvirtError,
                                  self.driver._create_guest, self.context,
                                  config.to_xml(), instance)
        self.assertIn('vcpu', str(error).lower())
        # nothing was defined, and the connection still serves
        self.assertNotIn(instance.name,
                         [d.name() for d in self.conn.listAllDomains()])
        self.assertTrue(self.driver._host.get_connection().isAlive())


class AdjustTest(base.RealLibvirtTestCase):

    def test_grow_vcpus(self):
        instance = self.instance()
        self.boot(instance)
        start = time.monotonic()
        result = self.driver.xloud_adjust(instance, 3, 256, False)
        called = time.monotonic() - start
        self.assertEqual({'vcpus': 3, 'memory_mb': 256}, result)
        status = self.wait_for(instance, lambda s: s['cpus'] == 3,
                               what='3 CPUs online')
        seen = time.monotonic() - start
        self.timing('vCPU hot-add 1 -> 3: xloud_adjust returned', called)
        self.timing('vCPU hot-add 1 -> 3: guest has them online', seen)
        self.assertEqual(3, status['present'])
        self.assertEqual(3, self.defined(instance)[1])
        # not persisted: the definition still boots at the minimum
        self.assertEqual(1, self.defined(instance, inactive=True)[1])

    def test_grow_and_shrink_memory(self):
        instance = self.instance()
        self.boot(instance)
        self.wait_for(instance, self.memory_near(256))
        for target in (768, 384):
            start = time.monotonic()
            result = self.driver.xloud_adjust(instance, 1, target, False)
            called = time.monotonic() - start
            self.assertEqual({'vcpus': 1, 'memory_mb': target}, result)
            self.wait_for(instance, self.memory_near(target),
                          what=f'MemTotal near {target} MiB')
            seen = time.monotonic() - start
            self.timing(f'balloon to {target} MiB: xloud_adjust returned',
                        called)
            self.timing(f'balloon to {target} MiB: guest MemTotal follows',
                        seen)
            # libvirt reports the balloon where the target is
            self.wait_for_balloon(instance, target)
            self.assertEqual(1, self.status(instance)['cpus'])

    def test_persisted_size_is_the_next_boot(self):
        instance = self.instance()
        guest = self.boot(instance)
        endpoint, manager = self.compute_endpoint()
        instance.task_state = inflight.ADJUSTING
        endpoint._adjust(self.context, instance, 3, 512, True)
        self.wait_for(instance, lambda s: s['cpus'] == 3)
        # libvirt's definition, the record, placement and Nova's next XML
        self.assertEqual((4, 3, 1024 * MiB, 512 * MiB),
                         self.defined(instance, inactive=True))
        self.assertEqual({'vcpus': 3, 'memory_mb': 512},
                         sizing.next_boot(instance))
        self.assertEqual({'VCPU': 3, 'MEMORY_MB': 512},
                         self.allocated(manager))
        config = self.guest_config(instance)
        self.assertEqual((3, 512 * MiB),
                         (config.vcpus_current, config.current_memory))
        # and the guest boots there again, as after a hard reboot
        guest.poweroff()
        guest.delete_configuration()
        self.boot(instance)
        status = self.wait_for(instance, self.memory_near(512),
                               what='the rebooted guest at 512 MiB')
        self.assertEqual(3, status['cpus'])

    def test_vcpu_unplug_is_reconciled(self):
        instance = self.instance()
        self.boot(instance)
        endpoint, manager = self.compute_endpoint()
        instance.task_state = inflight.ADJUSTING
        endpoint._adjust(self.context, instance, 3, 256, False)
        self.wait_for(instance, lambda s: s['cpus'] == 3)
        # Shrinking is a hot-unplug: under TCG, QEMU never completes it and
        # libvirt gives up after its timeout. Whatever happens, the record
        # and the allocation must end up where libvirt says the guest is.
        instance.task_state = inflight.ADJUSTING
        start = time.monotonic()
        try:
            endpoint._adjust(self.context, instance, 1, 256, False)
            failed = None
        except sizing.XloudAdjustFailed as e:
            failed = e
        took = time.monotonic() - start
        live = self.domain(instance).vcpusFlags(
            base.libvirt.VIR_DOMAIN_AFFECT_LIVE)
        self.timing('vCPU unplug 3 -> 1', took, failed=bool(failed),
                    libvirt_live=live)
        self.assertEqual(live, sizing.live(instance)['vcpus'])
        self.assertEqual(live, self.allocated(manager)['VCPU'])
        self.assertIsNone(instance.task_state)
        if failed is not None:
            self.assertEqual(live, failed.live['vcpus'])
            self.assertIn(f'runs with {live} vCPUs', str(failed))
        else:
            self.assertEqual(1, live)

    def test_stopped_domain(self):
        instance = self.instance()
        guest = self.boot(instance, power_on=False)
        self.assertFalse(guest.is_active())
        # a stopped server changes only its definition
        self.assertEqual({'vcpus': 2, 'memory_mb': 512},
                         self.driver.xloud_adjust(instance, 2, 512, False))
        self.assertEqual((4, 2, 1024 * MiB, 512 * MiB),
                         self.defined(instance, inactive=True))
        # a live change of a stopped domain is a clear error...
        error = self.assertRaises(base.libvirt.libvirtError,
                                  guest.set_vcpus, 3, live=True)
        self.assertIn('not running', str(error))
        # ...which, should the server stop between the check and the call,
        # fails the adjust with what the domain has, not a crash
        with mock.patch.object(libvirt_guest.Guest, 'is_active',
                               return_value=True):
            failed = self.assertRaises(sizing.XloudAdjustFailed,
                                       self.driver.xloud_adjust, instance, 3,
                                       768, True)
        self.assertEqual(2, failed.live['vcpus'])
        self.assertIn('not running', str(failed))
        self.assertEqual((4, 2, 1024 * MiB, 512 * MiB),
                         self.defined(instance, inactive=True))
