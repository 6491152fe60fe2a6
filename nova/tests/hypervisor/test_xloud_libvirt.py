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

import subprocess
import threading
import time
from unittest import mock

import fixtures
from lxml import etree
from oslo_concurrency import lockutils
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_utils import units

from nova.compute import utils as compute_utils
import nova.conf
from nova.network import model as network_model
from nova import objects
from nova.tests.hypervisor import base
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import xloud
from nova.virt.libvirt import xloud_guest
from nova.xloud import compute as xloud_compute
from nova.xloud import inflight
from nova.xloud import records

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)
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
        config.vcpu_list = []  # which would say what is enabled instead
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
                         records.next_boot(instance))
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
                                  xloud_guest.Guest.of(guest).set_vcpus, 3,
                                  live=True)
        self.assertIn('not running', str(error))
        # ...which, should the server stop between the check and the call,
        # fails the adjust with what the domain has, not a crash
        with mock.patch.object(libvirt_guest.Guest, 'is_active',
                               return_value=True):
            failed = self.assertRaises(records.XloudAdjustFailed,
                                       self.driver.xloud_adjust, instance, 3,
                                       768, True)
        self.assertEqual(2, failed.live['vcpus'])
        self.assertIn('not running', str(failed))
        self.assertEqual((4, 2, 1024 * MiB, 512 * MiB),
                         self.defined(instance, inactive=True))


class VcpuShrinkTest(base.RealLibvirtTestCase):
    """A vCPU shrink completes, or holds the guest to its new size.

    Under TCG, QEMU completes a vCPU unplug in the guest but never tells
    libvirt (it reports only the vCPU's APIC deleted), so libvirt times
    out after 5 s and keeps counting the vCPU: the unplug cannot finish
    here, and the CPU cap is what holds the guest.
    """

    #: What libvirt says when it would refuse to unplug boot vCPUs.
    REFUSED = ('failed to find appropriate hotpluggable vcpus to reach the '
               'desired target vcpu count')
    #: Shell in the guest: online every CPU it has, then busy-loop on each
    #: for $1 seconds.
    BUSY = ('for c in /sys/devices/system/cpu/cpu[0-9]*; do '
            '[ -e $c/online ] && echo 1 > $c/online; done; '
            'n=$(grep -c ^processor /proc/cpuinfo); i=0; '
            'while [ $i -lt $n ]; do '
            'timeout %d sh -c "while :; do :; done" & i=$((i + 1)); done; '
            'echo XLOUD-BUSY $n; wait')

    def adjust(self, endpoint, instance, vcpus, persist=False):
        instance.task_state = inflight.ADJUSTING
        return endpoint._adjust(self.context, instance, vcpus,
                                self.MIN_MEMORY_MB, persist)

    def unplug_errors(self):
        """The libvirt errors of the live vCPU changes the driver makes."""
        errors = []
        set_vcpus = xloud_guest.Guest.set_vcpus

        def spy(guest, count, **kwargs):
            try:
                return set_vcpus(guest, count, **kwargs)
            except base.libvirt.libvirtError as e:
                errors.append(e)
                raise
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.libvirt.xloud_guest.Guest.set_vcpus', spy))
        return errors

    def test_shrink_with_the_agent(self):
        self.with_agent()
        instance = self.instance()
        self.boot(instance)
        # the channel Nova's driver made reaches the agent in the guest
        self.assertEqual(1, self.wait_for_agent(instance))
        endpoint, manager = self.compute_endpoint()
        self.adjust(endpoint, instance, 3)
        self.wait_for(instance, lambda s: s['cpus'] == 3)
        self.wait_for_agent(instance)

        start = time.monotonic()
        # (the suite runs monkey-patched: a green thread, and libvirt's
        # calls go through a native thread pool)
        shrink = threading.Thread(target=self.adjust,
                                  args=(endpoint, instance, 1))
        shrink.start()
        self.wait_for(instance, lambda s: s['cpus'] == 1, timeout=2,
                      what='1 CPU online within 2 s of the call')
        offline = time.monotonic() - start
        shrink.join()
        took = time.monotonic() - start
        live = self.domain(instance).vcpusFlags(
            base.libvirt.VIR_DOMAIN_AFFECT_LIVE)
        sizes = self.driver.xloud_sizes(instance)
        self.timing('vCPU shrink 3 -> 1 with the agent: guest has 1 CPU '
                    'online', offline)
        self.timing('vCPU shrink 3 -> 1 with the agent: adjust returned',
                    took, libvirt_live=live, sizes=sizes)
        # placement, the record and what libvirt says the guest can use
        self.assertEqual(1, self.allocated(manager)['VCPU'])
        self.assertEqual(1, records.live(instance)['vcpus'])
        self.assertEqual(1, sizes['vcpus'])
        self.assertIsNone(instance.task_state)
        if live == 1:
            return  # the unplug finished (KVM): nothing to hold the guest
        # it did not (TCG): the guest keeps vCPUs, capped to 1 CPU
        self.assertEqual(live, records.vcpus_plugged(instance))
        self.assertEqual(live, sizes['vcpus_plugged'])
        cputune = etree.fromstring(self.domain(instance).XMLDesc(0)).find(
            'cputune')
        self.assertEqual((xloud.CPU_PERIOD, xloud.CPU_PERIOD),
                         (int(cputune.findtext('global_period')),
                          int(cputune.findtext('global_quota'))))

        # The guest onlines what it still has and keeps every CPU busy:
        # the domain's CPU time stays within the cap.
        run = self.run_in_guest(instance, self.BUSY % 8)
        deadline = time.monotonic() + self.TIMEOUT
        while not any(line.startswith('XLOUD-BUSY') for line in
                      self.guest_output(instance, run)[0]):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        busy = int(next(line for line in self.guest_output(instance, run)[0]
                        if line.startswith('XLOUD-BUSY')).split()[1])
        self.assertGreaterEqual(busy, 2)
        time.sleep(1)
        cpu, wall = self.cpu_seconds(instance), time.monotonic()
        time.sleep(4)
        used = ((self.cpu_seconds(instance) - cpu) /
                (time.monotonic() - wall))
        self.timing(f'vCPU cap of 1: {busy} busy guest CPUs used '
                    f'{used:.2f} CPUs', 4)
        self.assertLessEqual(used, 1.1)

    def test_shrink_without_the_agent(self):
        instance = self.instance()
        self.boot(instance)
        endpoint, manager = self.compute_endpoint()
        self.adjust(endpoint, instance, 3)
        self.wait_for(instance, lambda s: s['cpus'] == 3)
        start = time.monotonic()
        self.adjust(endpoint, instance, 1)
        took = time.monotonic() - start
        live = self.domain(instance).vcpusFlags(
            base.libvirt.VIR_DOMAIN_AFFECT_LIVE)
        self.timing('vCPU shrink 3 -> 1 without the agent', took,
                    libvirt_live=live)
        # whatever the unplug did, the allocation is what the guest can
        # use: 1 vCPU, or its vCPUs capped to 1 CPU of time
        self.assertEqual(1, self.allocated(manager)['VCPU'])
        self.assertEqual(1, self.driver.xloud_sizes(instance)['vcpus'])
        self.assertEqual(None if live == 1 else live,
                         records.vcpus_plugged(instance))
        self.assertIsNone(instance.task_state)

    def test_shrink_after_a_persisted_reboot(self):
        instance = self.instance()
        guest = self.boot(instance)
        endpoint, manager = self.compute_endpoint()
        self.adjust(endpoint, instance, 3, persist=True)
        self.wait_for(instance, lambda s: s['cpus'] == 3)
        # a hard reboot: the driver regenerates the domain, at 3 vCPUs
        guest.poweroff()
        guest.delete_configuration()
        self.boot(instance)
        self.wait_for(instance, lambda s: s['cpus'] == 3,
                      what='the rebooted guest at 3 CPUs')
        xml = self.domain(instance).XMLDesc(0)
        self.assertEqual(
            [('yes', 'no'), ('yes', 'yes'), ('yes', 'yes'), ('no', 'yes')],
            [(v.get('enabled'), v.get('hotpluggable')) for v in
             etree.fromstring(xml).findall('./vcpus/vcpu')])

        # libvirt accepts to unplug the vCPUs above the minimum
        errors = self.unplug_errors()
        self.adjust(endpoint, instance, 1)
        for error in errors:
            self.assertNotIn(self.REFUSED, str(error))
            self.assertEqual(base.libvirt.VIR_ERR_OPERATION_TIMEOUT,
                             error.get_error_code(), str(error))
        self.assertEqual(1, self.allocated(manager)['VCPU'])

        # a domain without <vcpus>, as before, is refused: its vCPUs online
        # at boot are all boot vCPUs
        doc = etree.fromstring(self.guest_xml(instance))
        doc.remove(doc.find('vcpus'))
        doc.find('name').text += '-plain'
        doc.find('uuid').text = instance.uuid[:-4] + 'ffff'
        for entry in doc.findall("./sysinfo/system/entry[@name='uuid']"):
            entry.text = doc.find('uuid').text
        for device in doc.findall('./devices/*'):
            if device.tag in ('serial', 'console', 'disk', 'channel'):
                device.getparent().remove(device)  # the first one's
        plain = self.conn.createXML(etree.tostring(doc).decode(), 0)
        self.addCleanup(self.remove_domain, plain.name())
        error = self.assertRaises(base.libvirt.libvirtError,
                                  plain.setVcpusFlags, 1,
                                  base.libvirt.VIR_DOMAIN_AFFECT_LIVE)
        self.assertIn(self.REFUSED, str(error))


class FrozenAgentTest(base.RealLibvirtTestCase):
    """A guest agent that never answers cannot wedge nova-compute.

    The guest's qemu-guest-agent is stopped (SIGSTOP) inside the guest: it
    keeps its port open and answers nothing, not even guest-sync.
    """

    AGENT_TIMEOUT = 3
    #: What a failed shrink may take beyond the agent timeout: reading the
    #: domain, the allocation and the record (all local here).
    SLACK = 3
    PERIODIC_SPACING = 0.5

    def setUp(self):
        super().setUp()
        self.conf.config(group='xloud', agent_timeout=self.AGENT_TIMEOUT)
        self.with_agent()
        self.instance_ = self.instance()
        self.boot(self.instance_)
        self.assertEqual(1, self.wait_for_agent(self.instance_))
        self.endpoint, self.manager = self.compute_endpoint()
        # what the compute manager would read from and write to the
        # database around an adjust: the server as it is, its instance
        # action and its faults
        self.useFixture(fixtures.MockPatchObject(objects.Instance,
                                                 'refresh'))
        self.useFixture(fixtures.MockPatchObject(compute_utils,
                                                 'EventReporter'))
        self.faults = []
        self.useFixture(fixtures.MockPatchObject(
            compute_utils, 'add_instance_fault_from_exc',
            side_effect=lambda ctxt, inst, exc, *a, **kw:
                self.faults.append(exc)))
        # this host's servers with an adjust in flight, for the periodic
        # task
        self.useFixture(fixtures.MockPatchObject(
            objects.InstanceList, 'get_by_filters',
            side_effect=lambda *a, **kw: (
                [self.instance_] if self.instance_.task_state ==
                inflight.ADJUSTING else [])))
        self.cast(3)
        self.wait_for(self.instance_, lambda s: s['cpus'] == 3)
        self.wait_for_agent(self.instance_)
        # (qemu-ga writes no pid file unless it daemonizes)
        run = self.run_in_guest(self.instance_,
                                'kill -STOP $(pidof qemu-ga)')
        deadline = time.monotonic() + self.TIMEOUT
        while self.guest_output(self.instance_, run)[1] is None:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        output, rc = self.guest_output(self.instance_, run)
        self.assertEqual(0, rc, output)

    def cast(self, vcpus):
        """The adjust message as nova-compute receives it.

        :returns: the exception it raised, or None
        """
        ctxt = self.context.elevated()
        ctxt.request_id = f'req-{vcpus}-{time.monotonic()}'
        inflight.begin(ctxt, self.instance_)
        try:
            self.endpoint.xloud_adjust(ctxt, self.instance_, vcpus,
                                       None, False)
        except Exception as e:
            return e
        return None

    def periodic_tasks(self, stop, ran):
        """The compute's periodic loop, as far as it touches this server.

        Each pass runs the lost-adjust task, then reads the guest's power
        state as _sync_power_states does; each pass is logged, and
        recorded as (its start, the lost-adjust task's time, its time).
        """
        while not stop.is_set():
            start = time.monotonic()
            xloud_compute.resolve_lost(self.manager, self.context)
            lost = time.monotonic() - start
            state = self.driver.get_info(self.instance_).state
            took = time.monotonic() - start
            LOG.info('periodic tasks ran in %.3f s: _xloud_resolve_lost in '
                     '%.3f s, power state %s', took, lost, state)
            ran.append((start, lost, took))
            stop.wait(self.PERIODIC_SPACING)

    def test_frozen_agent_fails_the_shrink_in_bounded_time(self):
        self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        stop, ran = threading.Event(), []
        loop = threading.Thread(target=self.periodic_tasks,
                                args=(stop, ran))
        loop.start()
        self.addCleanup(loop.join, self.TIMEOUT)
        self.addCleanup(stop.set)

        start = time.monotonic()
        error = self.cast(1)
        took = time.monotonic() - start
        # every pass that began during the shrink, the one still running
        # when it ended included
        stop.set()
        loop.join(self.TIMEOUT)
        during = [p for p in ran if start <= p[0] <= start + took]
        self.timing('frozen agent: the shrink failed', took,
                    periodic_passes=[[round(n, 3) for n in
                                      (s - start, lost, t)]
                                     for s, lost, t in during])

        self.assertGreaterEqual(took, self.AGENT_TIMEOUT - 0.5)
        self.assertLess(took, self.AGENT_TIMEOUT + self.SLACK)
        self.assertIsInstance(error, records.XloudAdjustFailed)
        self.assertEqual([error], self.faults)
        self.assertIn(f'did not answer within {self.AGENT_TIMEOUT} s',
                      str(error))
        # the server keeps what it runs at, and is allocated that
        self.assertEqual(3, self.domain(self.instance_).vcpusFlags(
            base.libvirt.VIR_DOMAIN_AFFECT_LIVE))
        self.assertEqual(3, self.driver.xloud_sizes(self.instance_)['vcpus'])
        self.assertEqual(3, records.live(self.instance_)['vcpus'])
        self.assertEqual(3, self.allocated(self.manager)['VCPU'])
        self.assertIsNone(self.instance_.task_state)
        # The periodic tasks ran on throughout: the lost-adjust task never
        # waits for the server, and no pass waits past the agent timeout.
        # (libvirt itself can make a lookup of the domain, the power-state
        # read, wait while the agent call waits for guest-sync: seen from
        # 2 s up to the rest of the agent timeout, so that one pass can
        # span the shrink; every pass that began during it is counted.)
        self.assertGreaterEqual(len(during), 1)
        self.assertLess(max(lost for _s, lost, _t in during), 0.5)
        self.assertLess(max(t for _s, _l, t in during), self.AGENT_TIMEOUT)

    def test_delete_while_the_agent_hangs(self):
        shrink = threading.Thread(target=self.cast, args=(1,))
        start = time.monotonic()
        shrink.start()
        # (a shrink that never ends is the failure this test looks for:
        # the domain's removal, the last cleanup, ends it)
        self.addCleanup(shrink.join, self.TIMEOUT)
        time.sleep(0.5)  # the shrink holds the server, waiting on the agent
        deleted = time.monotonic()
        # the audit's resolve does not wait for the server
        self.assertRaises(messaging.ExpectedException,
                          self.endpoint.xloud_resolve, self.context,
                          self.instance_, inflight.token(self.instance_))
        self.assertLess(time.monotonic() - deleted, 0.5)
        # as the compute manager's terminate_instance, under the lock
        with lockutils.lock(self.instance_.uuid):
            self.driver.destroy(self.context, self.instance_,
                                network_model.NetworkInfo(),
                                destroy_disks=True)
        done = time.monotonic()
        shrink.join(self.TIMEOUT)
        self.assertFalse(shrink.is_alive(), 'the shrink never ended')
        self.timing('frozen agent: a delete issued during the shrink',
                    done - deleted, shrink_began=round(deleted - start, 3))
        self.assertLess(done - start, self.AGENT_TIMEOUT + self.SLACK)
        self.assertRaises(base.libvirt.libvirtError, self.domain,
                          self.instance_)


class MemoryLimitTest(base.RealLibvirtTestCase):
    """The memory minimum is a limit, not a request to the guest."""

    #: Shell in the guest: fill a tmpfs with 8 MiB files up to $1 MiB,
    #: printing how far it got after each.
    FILL = ('fill() { i=0; while [ $i -lt $1 ]; do '
            'dd if=/dev/zero of=/fill/$2$i bs=1M count=8 2>/dev/null || '
            'return 1; i=$((i + 8)); echo XLOUD-FILL $2 $i; done; }; '
            'mkdir -p /fill; mountpoint -q /fill || '
            'mount -t tmpfs -o size=2g tmpfs /fill; ')

    def limit_kib(self, memory_mb):
        return (memory_mb + CONF.xloud.memory_overhead_mb) * MiB

    def hard_limit(self, instance, inactive=False):
        flags = (base.libvirt.VIR_DOMAIN_AFFECT_CONFIG if inactive
                 else base.libvirt.VIR_DOMAIN_AFFECT_LIVE)
        return self.domain(instance).memoryParameters(flags)[
            base.libvirt.VIR_DOMAIN_MEMORY_HARD_LIMIT]

    def test_boot_sets_the_limit(self):
        instance = self.instance()
        self.boot(instance)
        limit = self.limit_kib(self.MIN_MEMORY_MB)
        # what the driver reads back right after the boot (follow_guest
        # sizes the allocation from it): the size the limit holds the
        # guest to, even while the balloon is still on its way down
        self.assertEqual(self.MIN_MEMORY_MB,
                         self.driver.xloud_sizes(instance)['memory_mb'])
        # in the definition, for every later start, and on QEMU's cgroup
        self.assertEqual(limit, self.hard_limit(instance, inactive=True))
        self.assertEqual(limit, self.hard_limit(instance))
        cgroup = self.memory_cgroup(instance)
        self.assertEqual(limit * units.Ki,
                         self.cgroup_memory(cgroup)['limit'])

    def test_guest_without_its_balloon_stays_within_its_allocation(self):
        overhead = CONF.xloud.memory_overhead_mb
        allocation = self.MIN_MEMORY_MB
        limit = (allocation + overhead) * units.Mi
        # more than the limit lets QEMU have, less than the guest's memory
        beyond = allocation + overhead + 64
        if beyond > self.MEMORY_MB - 160:
            self.fail(f'[xloud]memory_overhead_mb={overhead} leaves no room '
                      f'in a {self.MEMORY_MB} MiB guest to go beyond it')
        neighbour = self.instance()
        self.boot(neighbour)
        instance = self.instance()
        start = time.monotonic()
        self.boot(instance)
        self.wait_for(instance, self.memory_near(allocation),
                      what=f'the balloon to reach {allocation} MiB')
        self.wait_for_balloon(instance, allocation)
        cgroup = self.memory_cgroup(instance)
        pid = self.qemu_pid(instance)
        booted = self.cgroup_memory(cgroup)
        self.assertEqual(limit, booted['limit'])
        self.assertLessEqual(booted['max_usage'], limit)
        self.timing(f'memory limit: booted at {allocation} MiB, limit '
                    f'{limit // units.Mi} MiB; cgroup peak so far '
                    f'{booted["max_usage"] // units.Mi} MiB',
                    time.monotonic() - start)

        # 1. with its balloon, the guest fills what it has: what QEMU
        # uses beyond the guest's memory is its overhead
        run = self.run_in_guest(
            instance, self.FILL + "n=$(awk '/^MemAvailable:/ {print $2}' "
            "/proc/meminfo); fill $((n / 1024 - 32)) a")
        deadline = time.monotonic() + 120
        while self.guest_output(instance, run)[1] is None:
            self.assertLess(time.monotonic(), deadline, 'fill timed out')
            time.sleep(0.2)
        full = self.cgroup_memory(cgroup)
        filled = [int(line.split()[2]) for line in
                  self.guest_output(instance, run)[0]
                  if line.startswith('XLOUD-FILL a ')]
        self.timing(f'memory limit: guest at {allocation} MiB filled '
                    f'{max(filled or [0])} MiB into tmpfs: cgroup usage '
                    f'{full["usage"] // units.Mi} MiB '
                    f'({full["usage"] // units.Mi - allocation:+d} MiB over '
                    f'the allocation; overhead allowed {overhead} MiB)', 0)
        # a guest using all it was given is not held back
        self.assertEqual(0, full['oom_kill'])
        self.assertLessEqual(full['max_usage'], limit)

        # 2. without it, the guest takes back its flavor's memory and
        # writes more than its allocation plus overhead
        start = time.monotonic()
        run = self.run_in_guest(
            instance, self.FILL + f'rmmod virtio_balloon && fill {beyond} b')
        seen = [full]
        rss = anon = 0
        deadline = time.monotonic() + 180
        while self.domain(instance).isActive():
            self.assertLess(time.monotonic(), deadline,
                            f'the guest is still running: '
                            f'{self.guest_output(instance, run)}')
            try:
                seen.append(self.cgroup_memory(cgroup))
                with open(f'/proc/{pid}/status') as f:
                    status = dict(line.split(':', 1) for line in f)
                # an exiting process has no memory lines any more
                rss = max(rss, int(status.get('VmRSS', '0').split()[0]))
                anon = max(anon, int(status.get('RssAnon', '0').split()[0]))
            except (FileNotFoundError, ProcessLookupError):
                pass  # QEMU is gone; the domain follows
            time.sleep(0.1)
        took = time.monotonic() - start
        output, status = self.guest_output(instance, run)
        memtotal = max(int(m) for _c, _p, m in
                       base.STATUS.findall('\n'.join(output)) or
                       [(0, 0, 0)])
        written = [int(line.split()[2]) for line in output
                   if line.startswith('XLOUD-FILL b ')]
        state, reason = self.domain(instance).state()
        peak = max(s['max_usage'] for s in seen)
        # the cgroup goes with QEMU, so its kill count may be missed; the
        # kernel logs the kill, and which cgroup's limit caused it
        kernel = subprocess.run(['dmesg'], capture_output=True,
                                text=True).stdout
        memcg = cgroup[len(base.MEMORY_CGROUP):]
        oom_kills = max([s['oom_kill'] for s in seen] + [
            1 for line in kernel.splitlines()
            if f'oom_memcg={memcg},task_memcg={memcg},' in line and
            f',pid={pid},' in line and 'CONSTRAINT_MEMCG' in line])
        self.timing(
            f'memory limit: without its balloon the guest saw MemTotal '
            f'{memtotal // MiB} MiB, wrote {max(written or [0])} of '
            f'{beyond} MiB, then QEMU was '
            f'{"OOM-killed" if oom_kills else "not killed"} (domain state '
            f'{state}, reason {reason}); cgroup peak {peak // units.Mi} MiB '
            f'<= limit {limit // units.Mi} MiB; QEMU RSS peak '
            f'{rss // MiB} MiB, of it anonymous {anon // MiB} MiB', took)
        # the guest did take its memory back, and went beyond the limit
        self.assertGreater(memtotal, (self.MEMORY_MB - 100) * MiB)
        self.assertIsNone(status, f'the fill finished: {output}')
        # its QEMU never had more than the allocation plus the overhead
        # (its RSS also counts the QEMU binary and libraries it shares)...
        self.assertLessEqual(peak, limit)
        self.assertLessEqual(anon * units.Ki, limit)
        # ...and the host killed it for its own cgroup's limit
        self.assertGreaterEqual(oom_kills, 1, f'no OOM kill of QEMU {pid} '
                                f'for {memcg} in the kernel log')
        self.assertEqual(
            (base.libvirt.VIR_DOMAIN_SHUTOFF,
             base.libvirt.VIR_DOMAIN_SHUTOFF_CRASHED), (state, reason))
        # its neighbour is untouched
        self.assertTrue(self.domain(neighbour).isActive())
        self.assertEqual(0, self.cgroup_memory(
            self.memory_cgroup(neighbour))['oom_kill'])

    def test_raised_overhead_reads_the_same_size(self):
        # an operator raises [xloud]memory_overhead_mb while guests run
        # (or a guest moves to a host where it is higher): each guest is
        # still read back at what it has, not at its limit minus the new
        # overhead
        booted = self.instance()
        self.boot(booted)
        grown = self.instance()
        self.boot(grown)
        self.wait_for_balloon(grown, self.MIN_MEMORY_MB)
        self.assertEqual({'vcpus': 1, 'memory_mb': 768},
                         self.driver.xloud_adjust(grown, 1, 768, False))
        self.wait_for_balloon(grown, 768)
        old = CONF.xloud.memory_overhead_mb
        self.conf.config(memory_overhead_mb=old + 256, group='xloud')
        self.assertEqual(self.MIN_MEMORY_MB,
                         self.driver.xloud_sizes(booted)['memory_mb'])
        self.assertEqual(768, self.driver.xloud_sizes(grown)['memory_mb'])
        # the next limit is set, and recorded, with the new overhead
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         self.driver.xloud_adjust(grown, 1, 512, False))
        self.assertEqual((512 + old + 256) * MiB, self.hard_limit(grown))
        self.assertEqual(512, self.driver.xloud_sizes(grown)['memory_mb'])
        # recorded with the live limit, in the live domain; the definition
        # keeps its own limit, and its own record
        self.assertEqual(str(old + 256), self.recorded_overhead(grown))
        self.assertEqual(str(old), self.recorded_overhead(grown,
                                                          inactive=True))
        self.assertEqual(str(old), self.recorded_overhead(booted))

    def recorded_overhead(self, instance, inactive=False):
        """The overhead the domain's metadata says its limit has."""
        flags = base.libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        doc = etree.fromstring(self.domain(instance).XMLDesc(flags))
        return doc.find('./metadata/{%s}limit' % xloud.METADATA_NS).get(
            'overhead_mib')

    def test_adjust_moves_the_limit(self):
        instance = self.instance()
        self.boot(instance)
        self.wait_for(instance, self.memory_near(256))
        cgroup = self.memory_cgroup(instance)
        for target, persist in ((768, False), (384, True)):
            start = time.monotonic()
            self.assertEqual({'vcpus': 1, 'memory_mb': target},
                             self.driver.xloud_adjust(instance, 1, target,
                                                      persist))
            took = time.monotonic() - start
            self.timing(f'memory limit follows an adjust to {target} MiB: '
                        f'xloud_adjust returned', took)
            self.assertEqual(self.limit_kib(target), self.hard_limit(instance))
            self.assertEqual(self.limit_kib(target) * units.Ki,
                             self.cgroup_memory(cgroup)['limit'])
            # a shrink lowers the limit only once the guest gave it back
            self.assertLessEqual(self.defined(instance)[3], target * MiB)
            self.assertEqual(self.limit_kib(target if persist else 256),
                             self.hard_limit(instance, inactive=True))
