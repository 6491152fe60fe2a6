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

"""Nova's libvirt driver on a real ``qemu:///system``, with a real guest.

Only what has no real backing here is stood in for: the image service
(the guest's kernel, initramfs and an empty root disk are put where the
image backend would have put them), the network (there is none) and the
database (the service record the driver updates when its connection
opens). Everything else is the patched driver: ``_get_guest_xml`` makes
the domain, ``_create_guest`` defines and starts it, ``xloud_adjust``,
``Guest`` and ``Host`` act on it.

The guest prints ``XLOUD-GUEST cpus=N present=N memtotal_kib=N`` on its
serial console whenever what it sees changes (see ``tools/realhv.py``);
the console is the one Nova configures, logged by virtlogd to the
instance's ``console.log``. A test makes the guest run a shell command by
typing ``XLOUD-RUN <id> <command>`` on that console (``run_in_guest``).
"""

import itertools
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import tty
from unittest import mock

import fixtures
from oslo_config import fixture as config_fixture
from oslo_serialization import jsonutils
from oslo_utils.fixture import uuidsentinel as uuids
from oslo_utils import importutils
from oslo_utils import units
import testtools

import nova.conf
from nova.conf import neutron as neutron_conf
from nova import context as nova_context
from nova.network import model as network_model
from nova import objects
from nova.tests import fixtures as nova_fixtures
from nova.virt import fake as fake_virt
from nova.virt.libvirt import blockinfo
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import xloud_guest
from nova.xloud import compute as xloud_compute
from nova.xloud import placement as xloud_placement

CONF = nova.conf.CONF
libvirt = importutils.try_import('libvirt')

#: Set by "make check" (tools/run_checks.py) to the JSON "realhv.py image"
#: prints: the guest's kernel, initramfs and command line.
IMAGE_ENV = 'XLOUD_HV_IMAGE'
#: When set, timings are appended to this file, one JSON object a line.
TIMINGS_ENV = 'XLOUD_HV_TIMINGS'
#: Every domain these tests define is named so, and removed by its name.
PREFIX = 'xloud-hv-'
STATUS = re.compile(
    r'^XLOUD-GUEST cpus=(\d+) present=(\d+) memtotal_kib=(\d+)', re.M)
#: Where QEMU's memory cgroup (v1) is mounted.
MEMORY_CGROUP = '/sys/fs/cgroup/memory'
_ids = itertools.count(1)


class RealLibvirtTestCase(testtools.TestCase):
    """A LibvirtDriver on qemu:///system, and helpers to boot guests."""

    #: The flavor every test boots: it can grow from 1 to 4 vCPUs and from
    #: 256 to 1024 MiB.
    VCPUS, MEMORY_MB = 4, 1024
    MIN_VCPUS, MIN_MEMORY_MB = 1, 256
    BOOT_TIMEOUT = 90
    TIMEOUT = 30

    def setUp(self):
        super().setUp()
        image = os.environ.get(IMAGE_ENV)
        if libvirt is None or not image:
            self.skipTest(f'no real hypervisor: {IMAGE_ENV} is not set or '
                          f'libvirt-python is missing; "make check" as '
                          f'root sets them up')
        with open(image, 'rb') as f:
            self.image = jsonutils.load(f)
        self.useFixture(fixtures.Timeout(
            int(os.environ.get('OS_TEST_TIMEOUT', 300)), gentle=True))
        objects.register_all()
        self.conf = self.useFixture(config_fixture.Config(CONF))
        CONF([], project='nova', default_config_files=[])
        neutron_conf.register_dynamic_opts(CONF)
        self.instances_path = tempfile.mkdtemp(prefix=PREFIX, dir='/tmp')
        # QEMU runs as libvirt-qemu and must reach the instance files
        os.chmod(self.instances_path, 0o755)
        self.addCleanup(shutil.rmtree, self.instances_path, True)
        self.conf.config(instances_path=self.instances_path,
                         instance_name_template=PREFIX + '%08x')
        self.conf.config(group='libvirt', virt_type='qemu',
                         connection_uri='qemu:///system',
                         cpu_mode='custom', cpu_models=['qemu64'])
        # the service record the driver updates when its connection opens
        self.useFixture(fixtures.MockPatchObject(
            libvirt_driver.LibvirtDriver, '_set_host_enabled'))
        self.driver = libvirt_driver.LibvirtDriver(
            fake_virt.FakeVirtAPI(), False)
        self.conn = libvirt.open('qemu:///system')
        self.addCleanup(self.conn.close)
        self.context = nova_context.get_admin_context()
        self.flavor = objects.Flavor(
            id=1, flavorid='xloud-hv', name='xloud-hv', vcpus=self.VCPUS,
            memory_mb=self.MEMORY_MB, root_gb=1, ephemeral_gb=0, swap=0,
            vcpu_weight=None, rxtx_factor=1.0,
            extra_specs={'minimum_cpu': str(self.MIN_VCPUS),
                         'minimum_memory': str(self.MIN_MEMORY_MB)})
        self.image_meta = objects.ImageMeta.from_dict(
            {'disk_format': 'qcow2', 'container_format': 'bare',
             'properties': {'os_command_line': self.image['cmdline']}})

    def with_agent(self):
        """Boot the next guests from an image with hw_qemu_guest_agent=yes.

        Nova's driver then gives the domain its guest agent channel, on
        which the test guest runs qemu-guest-agent.
        """
        self.image_meta = objects.ImageMeta.from_dict(
            {'disk_format': 'qcow2', 'container_format': 'bare',
             'properties': {'os_command_line': self.image['cmdline'],
                            'hw_qemu_guest_agent': True}})

    # -- instances and their domains ------------------------------------

    def instance(self):
        """An instance of the flavor, as the compute manager passes it."""
        n = next(_ids) + (os.getpid() % 10000) * 1000
        instance = objects.Instance(
            id=n, uuid=getattr(uuids, f'hv{n}'), display_name=f'hv{n}',
            project_id='project', user_id='user', host='compute',
            node='compute', image_ref=uuids.image, kernel_id=uuids.kernel,
            ramdisk_id=uuids.ramdisk, flavor=self.flavor, old_flavor=None,
            new_flavor=None, vcpus=self.VCPUS, memory_mb=self.MEMORY_MB,
            root_gb=1, ephemeral_gb=0, system_metadata={},
            pci_devices=objects.PciDeviceList(), pci_requests=None,
            numa_topology=None, config_drive=None, vm_mode=None,
            vm_state='building', task_state=None, os_type='linux',
            ephemeral_key_uuid=None, vcpu_model=None, trusted_certs=None,
            resources=None, migration_context=None, info_cache=None,
            root_device_name=None, default_ephemeral_device=None,
            default_swap_device=None, metadata={}, device_metadata=None)
        self.addCleanup(self.remove_domain, instance.name)
        return instance

    def instance_dir(self, instance):
        return os.path.join(self.instances_path, instance.uuid)

    def _prepare_files(self, instance):
        """What the image backend and image cache would have fetched."""
        path = self.instance_dir(instance)
        if os.path.exists(os.path.join(path, 'disk')):
            return
        os.makedirs(path, mode=0o755, exist_ok=True)
        shutil.copy(self.image['kernel'], os.path.join(path, 'kernel'))
        shutil.copy(self.image['initrd'], os.path.join(path, 'ramdisk'))
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2',
                        os.path.join(path, 'disk'), '16M'], check=True)

    def guest_config(self, instance):
        """The driver's guest config for ``instance``."""
        self._prepare_files(instance)
        disk_info = blockinfo.get_disk_info('qemu', instance,
                                            self.image_meta)
        return self.driver._get_guest_config(
            instance, network_model.NetworkInfo(), self.image_meta,
            disk_info, context=self.context)

    def guest_xml(self, instance):
        """The domain XML the driver generates for ``instance``."""
        self._prepare_files(instance)
        disk_info = blockinfo.get_disk_info('qemu', instance,
                                            self.image_meta)
        return self.driver._get_guest_xml(
            self.context, instance, network_model.NetworkInfo(), disk_info,
            self.image_meta)

    def boot(self, instance, power_on=True):
        """Define (and start) the domain as the driver's spawn does."""
        xml = self.guest_xml(instance)
        start = time.monotonic()
        guest = self.driver._create_guest(self.context, xml, instance,
                                          power_on=power_on)
        # as the compute manager does once the first spawn is done
        instance.vm_state = 'active' if power_on else 'stopped'
        if power_on:
            self.wait_for(instance, lambda s: True, timeout=self.BOOT_TIMEOUT,
                          what='the guest to boot')
            self.timing('boot to the first status line',
                        time.monotonic() - start)
        return guest

    def remove_domain(self, name):
        """Destroy and undefine a domain, whatever state it is in."""
        try:
            dom = self.conn.lookupByName(name)
        except libvirt.libvirtError:
            return
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError:
            pass
        try:
            dom.undefine()
        except libvirt.libvirtError:
            pass

    def domain(self, instance):
        return self.conn.lookupByName(instance.name)

    def defined(self, instance, inactive=False):
        """(vCPUs, current vCPUs, memory KiB, current memory KiB)."""
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        conf = xloud_guest.ConfigGuest()
        conf.parse_str(self.domain(instance).XMLDesc(flags))
        return (conf.vcpus, conf.vcpus_current or conf.vcpus, conf.memory,
                conf.current_memory or conf.memory)

    def wait_for_agent(self, instance):
        """Wait for libvirt to reach the guest agent; its online CPUs."""
        deadline = time.monotonic() + self.TIMEOUT
        while True:
            try:
                return self.domain(instance).vcpusFlags(
                    libvirt.VIR_DOMAIN_VCPU_GUEST)
            except libvirt.libvirtError as e:
                if time.monotonic() > deadline:
                    self.fail(f'the guest agent does not answer: {e}; '
                              f'console:\n{self.console(instance)[-2000:]}')
            time.sleep(0.2)

    def cpu_seconds(self, instance):
        """The CPU time (s) the domain has used, all its threads."""
        return self.domain(instance).info()[4] / 1e9

    # -- what the guest sees ---------------------------------------------

    def console(self, instance):
        try:
            with open(os.path.join(self.instance_dir(instance),
                                   'console.log'), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def status(self, instance):
        """The guest's last status line, or None before it printed one."""
        found = STATUS.findall(self.console(instance))
        if not found:
            return None
        cpus, present, memtotal = (int(n) for n in found[-1])
        return {'cpus': cpus, 'present': present, 'memtotal_kib': memtotal}

    def run_in_guest(self, instance, command):
        """Make the guest run the shell ``command``; return its run id.

        The command is typed on the guest's serial console (the pty libvirt
        gives it), where ``tools/realhv.py``'s /init reads it; its output
        appears on the console between ``XLOUD-RUN-BEGIN <id>`` and
        ``XLOUD-RUN-END <id> rc=<status>`` (see ``guest_output``). Returns
        once the guest has started it.
        """
        run = f'{next(_ids)}'
        xml = self.domain(instance).XMLDesc(0)
        pty = re.search(r"<serial type='pty'>\s*<source path='([^']+)'",
                        xml)
        self.assertIsNotNone(pty, f'the guest has no serial pty:\n{xml}')
        fd = os.open(pty.group(1), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)  # no echo of the guest's output back into it
            # QEMU reads the pty only while someone holds it open, and
            # notices that about once a second; what is typed before is lost
            typed = time.monotonic() + 1.5
            deadline = time.monotonic() + self.TIMEOUT
            while f'XLOUD-RUN-BEGIN {run}' not in self.console(instance):
                if typed and time.monotonic() > typed:
                    os.write(fd, f'XLOUD-RUN {run} {command}\n'.encode())
                    typed = None
                if time.monotonic() > deadline:
                    self.fail(f'the guest did not start {command!r}; '
                              f'console:\n{self.console(instance)[-2000:]}')
                if select.select([fd], [], [], 0)[0]:
                    os.read(fd, 65536)  # keep the pty from filling up
                time.sleep(0.05)
        finally:
            os.close(fd)
        return run

    def guest_output(self, instance, run):
        """(lines the guest printed for run ``run``, its status or None).

        The status is None while the command runs, or if the guest died.
        """
        console = self.console(instance)
        begin = console.find(f'XLOUD-RUN-BEGIN {run}\n')
        if begin < 0:
            return [], None
        lines = console[begin:].splitlines()[1:]
        for i, line in enumerate(lines):
            end = re.match(rf'XLOUD-RUN-END {run} rc=(\d+)', line)
            if end:
                return lines[:i], int(end.group(1))
        return lines, None

    def qemu_pid(self, instance):
        with open(f'/run/libvirt/qemu/{instance.name}.pid') as f:
            return int(f.read().strip())

    def memory_cgroup(self, instance):
        """The directory of the memory cgroup (v1) QEMU runs in."""
        with open(f'/proc/{self.qemu_pid(instance)}/cgroup') as f:
            for line in f:
                _id, controllers, path = line.rstrip('\n').split(':', 2)
                if 'memory' in controllers.split(','):
                    return MEMORY_CGROUP + path
        self.skipTest('QEMU is in no cgroup v1 memory controller; these '
                      'tests read cgroup v1 (this machine has no v1 '
                      'memory controller mounted)')

    @staticmethod
    def cgroup_memory(cgroup):
        """What a memory cgroup (v1) reports, in bytes and counts."""
        def read(name):
            with open(os.path.join(cgroup, name)) as f:
                return f.read()
        oom = dict(line.split() for line in
                   read('memory.oom_control').splitlines())
        return {'limit': int(read('memory.limit_in_bytes')),
                'usage': int(read('memory.usage_in_bytes')),
                'max_usage': int(read('memory.max_usage_in_bytes')),
                'failcnt': int(read('memory.failcnt')),
                'oom_kill': int(oom.get('oom_kill', 0))}

    def wait_for(self, instance, predicate, timeout=None, what=None):
        """Poll the guest's status until ``predicate`` holds; return it."""
        deadline = time.monotonic() + (timeout or self.TIMEOUT)
        while time.monotonic() < deadline:
            status = self.status(instance)
            if status is not None and predicate(status):
                return status
            time.sleep(0.02)
        self.fail(f'timed out waiting for {what or "the guest"}; it last '
                  f'said {self.status(instance)}; console:\n'
                  f'{self.console(instance)[-2000:]}')

    def wait_for_balloon(self, instance, memory_mb):
        """Wait until libvirt reports the balloon at ``memory_mb``.

        libvirt learns where the balloon is from QEMU's balloon events,
        which lag behind the guest a little.
        """
        deadline = time.monotonic() + self.TIMEOUT
        while time.monotonic() < deadline:
            actual = self.domain(instance).info()[2]
            if actual == memory_mb * units.Ki:
                return
            time.sleep(0.05)
        self.fail(f'libvirt reports the balloon at {actual} KiB, not at '
                  f'{memory_mb} MiB')

    def memory_near(self, memory_mb):
        """The guest's MemTotal sits a little under its balloon target.

        The kernel keeps some memory for itself (about 50-70 MiB here).
        """
        target = memory_mb * units.Ki

        def near(status):
            return target - 100 * units.Ki < status['memtotal_kib'] <= target
        return near

    def compute_endpoint(self):
        """nova-compute's xloud endpoint over this driver.

        Placement is a mock that records what it is asked; the instance is
        not saved anywhere (there is no database).
        """
        # the endpoint notifies; messages go to oslo.messaging's fake
        self.useFixture(nova_fixtures.RPCFixture('nova.test'))
        manager = mock.Mock(host='compute', driver=self.driver)
        placement = manager.reportclient
        placement.get_allocs_for_consumer.return_value = {
            'allocations': {uuids.node: {'resources': {
                'VCPU': self.MIN_VCPUS, 'MEMORY_MB': self.MIN_MEMORY_MB}}},
            'consumer_generation': 1, 'project_id': 'project',
            'user_id': 'user'}
        placement.put.return_value = mock.Mock(status_code=204)

        def put(url, payload, *args, **kwargs):
            # the next read sees what was written
            placement.get_allocs_for_consumer.return_value = dict(
                placement.get_allocs_for_consumer.return_value,
                allocations=payload['allocations'])
            return placement.put.return_value
        placement.put.side_effect = put
        # the provider of the host the server runs on (from the database)
        self.useFixture(fixtures.MockPatchObject(
            xloud_placement, 'provider_of', return_value=uuids.node))
        self.useFixture(fixtures.MockPatchObject(objects.Instance, 'save'))
        return xloud_compute.XloudComputeEndpoint(manager), manager

    @staticmethod
    def allocated(manager):
        """The VCPU / MEMORY_MB the endpoint last asked placement for."""
        payload = manager.reportclient.put.call_args[0][1]
        resources = payload['allocations'][uuids.node]['resources']
        return {rc: resources[rc] for rc in ('VCPU', 'MEMORY_MB')}

    def timing(self, name, seconds, **extra):
        """Record a measurement; "make check" prints them."""
        path = os.environ.get(TIMINGS_ENV)
        if path:
            with open(path, 'a') as f:
                f.write(jsonutils.dumps(dict(test=self.id(), name=name,
                                        seconds=round(seconds, 3),
                                        **extra)) + '\n')
