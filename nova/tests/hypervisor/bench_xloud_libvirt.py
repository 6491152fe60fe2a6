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

"""Benchmark (not a test): our adjust against bare libvirt, on a real guest.

``make bench`` runs it (``tools/bench.py``), on the machinery of the
real-hypervisor suite, and reads the rows it appends to the file named by
``XLOUD_BENCH_RAW``. The file name does not start with ``test_``, so
``make check`` never runs it.

Each sample is timed from the call until the guest itself reports the
change on its serial console: all its new CPUs online, or its MemTotal
near the new balloon target. Our path (``LibvirtDriver.xloud_adjust``) and
the bare path (``virDomain.setVcpusFlags`` / ``setMemoryFlags`` on the
same domain) alternate on one guest, so drift in the machine's load hits
both alike. A vCPU cannot be taken away again under TCG (the hot-unplug
times out), so the vCPU samples use a 16-vCPU guest that starts with one
and gains one per sample.

The shrink samples (3 -> 1 vCPUs) each boot a fresh guest with the guest
agent, grown to 3: under TCG an unplug never completes in libvirt's eyes,
which leaves it unable to change that guest's vCPUs again. The two paths
alternate from guest to guest.
"""

import os
import statistics
import threading
import time

from oslo_serialization import jsonutils
from oslo_utils import units

from nova.tests.hypervisor import base

RAW_ENV = 'XLOUD_BENCH_RAW'


def summary(samples):
    ordered = sorted(samples)
    return {
        'n': len(ordered),
        'p50': round(statistics.median(ordered), 4),
        'p95': round(ordered[min(len(ordered) - 1,
                                 int(round(0.95 * (len(ordered) - 1))))], 4),
        'min': round(ordered[0], 4), 'max': round(ordered[-1], 4)}


class HypervisorBench(base.RealLibvirtTestCase):

    VCPUS = 16

    def setUp(self):
        super().setUp()
        self.raw = os.environ.get(RAW_ENV)
        if not self.raw:
            self.skipTest(f'{RAW_ENV} is not set: run it with "make bench"')

    def row(self, row, samples, reference=None, limit=None, note=None):
        """Append a result row; ``limit`` is the target for its p50."""
        data = dict(scenario='3 real hypervisor', row=row, unit='s',
                    **summary(samples), reference=None, ratio=None,
                    target=None, met=None, note=note)
        if limit is not None:
            data['target'] = f'<= 1.2 x bare + 0.2 s = {limit:.3f} s'
            data['met'] = data['p50'] <= limit
        if reference is not None:
            name, ref_samples = reference
            data['reference'] = name
            data['ratio'] = round(
                data['p50'] / statistics.median(ref_samples), 3)
        with open(self.raw, 'a') as f:
            f.write(jsonutils.dumps(data) + '\n')
        return data

    def _timed(self, instance, change, predicate):
        start = time.monotonic()
        change()
        called = time.monotonic() - start
        self.wait_for(instance, predicate)
        return called, time.monotonic() - start

    def test_vcpu_hot_add(self):
        instance = self.instance()
        self.boot(instance)
        domain = self.domain(instance)
        ours, bare, ours_call, bare_call = [], [], [], []
        for count in range(2, self.VCPUS + 1):
            def online(status, count=count):
                return status['cpus'] == count
            if count % 2:
                called, seen = self._timed(
                    instance, lambda: domain.setVcpusFlags(
                        count, base.libvirt.VIR_DOMAIN_AFFECT_LIVE), online)
                bare.append(seen)
                bare_call.append(called)
            else:
                called, seen = self._timed(
                    instance, lambda: self.driver.xloud_adjust(
                        instance, count, self.MIN_MEMORY_MB, False), online)
                ours.append(seen)
                ours_call.append(called)
        self.assertEqual(self.VCPUS, self.defined(instance)[1])
        self.row('vCPU +1, bare setVcpusFlags: call returns', bare_call)
        self.row('vCPU +1, xloud_adjust: call returns', ours_call,
                 reference=('bare call', bare_call),
                 note='our call reads the domain back after the hot-plug')
        self.row('vCPU +1, bare setVcpusFlags: guest has it online', bare)
        self.row('vCPU +1, xloud_adjust: guest has it online', ours,
                 reference=('bare, guest online', bare),
                 limit=1.2 * statistics.median(bare) + 0.2,
                 note='from the call until the guest reports the CPU '
                      'online')

    def test_balloon(self):
        instance = self.instance()
        self.boot(instance)
        self.wait_for(instance, self.memory_near(self.MIN_MEMORY_MB))
        domain = self.domain(instance)
        repeat = int(os.environ.get('XLOUD_BENCH_REPEAT', 10))
        ours, bare = [], []
        sizes = (768, 384)
        for i in range(2 * repeat):
            target = sizes[i % 2]
            if (i // 2) % 2:
                _called, seen = self._timed(
                    instance, lambda: domain.setMemoryFlags(
                        target * units.Ki,
                        base.libvirt.VIR_DOMAIN_AFFECT_LIVE),
                    self.memory_near(target))
                bare.append(seen)
            else:
                _called, seen = self._timed(
                    instance, lambda: self.driver.xloud_adjust(
                        instance, 1, target, False),
                    self.memory_near(target))
                ours.append(seen)
        self.row('balloon 384 <-> 768 MiB, bare setMemoryFlags: guest '
                 'MemTotal follows', bare)
        self.row('balloon 384 <-> 768 MiB, xloud_adjust: guest MemTotal '
                 'follows', ours, reference=('bare, guest follows', bare),
                 limit=1.2 * statistics.median(bare) + 0.2,
                 note='from the call until MemTotal is within 100 MiB under '
                      'the target')

    def _shrink_sample(self, ours):
        """Boot a guest at 1, grow it to 3, shrink it to 1 by one path.

        :returns: (seconds until the call returned, seconds until the
            guest had fewer CPUs online, seconds until it had 1 or None)
        """
        self.with_agent()
        instance = self.instance()
        self.boot(instance)
        self.driver.xloud_adjust(instance, 3, self.MIN_MEMORY_MB, False)
        self.wait_for(instance, lambda s: s['cpus'] == 3)
        self.wait_for_agent(instance)
        # through libvirt's thread pool, as the driver's calls go, so that
        # the guest can be watched meanwhile
        domain = self.driver._host.get_guest(instance)._domain
        if ours:
            def call():
                self.driver.xloud_adjust(instance, 1, self.MIN_MEMORY_MB,
                                         False)
        else:
            def call():
                try:
                    domain.setVcpusFlags(
                        1, base.libvirt.VIR_DOMAIN_AFFECT_LIVE)
                except base.libvirt.libvirtError:
                    pass  # the unplug timed out
        start = time.monotonic()
        thread = threading.Thread(target=call)
        thread.start()
        fewer = one = None
        while thread.is_alive() or fewer is None:
            cpus = (self.status(instance) or {}).get('cpus', 3)
            now = time.monotonic() - start
            if cpus < 3 and fewer is None:
                fewer = now
            if cpus == 1 and one is None:
                one = now
            if not thread.is_alive() and now > self.TIMEOUT:
                break
            time.sleep(0.02)
        called = time.monotonic() - start
        thread.join()
        self.remove_domain(instance.name)
        return called, fewer, one

    def test_vcpu_shrink(self):
        repeat = int(os.environ.get('XLOUD_BENCH_SHRINK_REPEAT', 3))
        samples = {True: [], False: []}
        for i in range(2 * repeat):
            samples[bool(i % 2)].append(self._shrink_sample(bool(i % 2)))
        bare, ours = samples[False], samples[True]
        bare_call = [c for c, _f, _o in bare]
        bare_fewer = [f for _c, f, _o in bare if f is not None]
        ours_one = [o for _c, _f, o in ours if o is not None]
        self.assertEqual(len(ours), len(ours_one),
                         'our shrink did not get the guest to 1 CPU online')
        bare_one = sum(o is not None for _c, _f, o in bare)
        self.row('vCPU 3 -> 1, bare setVcpusFlags: call returns', bare_call,
                 note='libvirt unplugs one vCPU at a time; under TCG it '
                      'gives up on the first after 5 s')
        self.row('vCPU 3 -> 1, xloud_adjust: call returns',
                 [c for c, _f, _o in ours],
                 reference=('bare call', bare_call),
                 note='agent offline, unplug (times out under TCG), CPU '
                      'cap')
        self.row('vCPU 3 -> 1, bare setVcpusFlags: guest has fewer CPUs '
                 'online', bare_fewer or [float('nan')],
                 note=f'the guest got to 1 CPU online in {bare_one} of '
                      f'{len(bare)} samples')
        self.row('vCPU 3 -> 1, xloud_adjust: guest has 1 CPU online',
                 ours_one, reference=('bare, guest has fewer', bare_fewer)
                 if bare_fewer else None,
                 note='the agent offlines both CPUs at once')
