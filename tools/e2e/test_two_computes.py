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

"""End to end, on a two-compute cloud: grow a server on a full compute.

Needs a cloud brought up with ``tools/aio.py up --computes 2``: computes
``aio`` and ``aio2``, each on a libvirtd in namespaces of its own, with
as many VCPUs as the machine has cores (cpu_allocation_ratio 1.0). The
e2e stage of tools/run_checks.py brings such a cloud up; on a cloud of its
own, run it with::

    make aio COMPUTES=2
    build/aio/venv/bin/python -m unittest -v tools/e2e/test_two_computes.py

The server boots on ``aio`` at its flavor's minimum, a plain server fills
the rest of ``aio``'s VCPUs, and ``openstack server adjust --vcpus N
--live-migrate --wait`` must move the server live to ``aio2`` and grow it
there. The guest's console (both hosts' console.log files, read directly)
proves it never rebooted: a heartbeat started in the guest before the
move goes on after it, with the same boot id. Prints the time from the
request to the guest seeing the new size, and the migration's downtime
(libvirt's job statistics, and the heartbeat's largest gap).
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
import tty
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import aio  # noqa: E402

TIMEOUT = 300
SOURCE, DEST = 'aio', 'aio2'
FILLER = {'name': 'xloud.filler', 'ram': 256, 'disk': 1}
HEARTBEAT = re.compile(r'^XLOUD-HB (\d+) ([\d.]+)', re.M)
STATUS = re.compile(r'^XLOUD-GUEST cpus=(\d+) present=(\d+)', re.M)


class CloudError(Exception):
    pass


class Console(threading.Thread):
    """Follows the server's console.log on both hosts.

    As the host sees them, noting when each heartbeat and status line
    first showed.
    """

    def __init__(self, paths):
        super().__init__(daemon=True)
        self.paths = paths
        self.text = {p: '' for p in paths}
        #: heartbeat counter: (host, monotonic time first seen, uptime)
        self.beats = {}
        self.status = []     # (monotonic time, host, cpus)
        self.stopping = False

    def run(self):
        while not self.stopping:
            for host, path in self.paths.items():
                try:
                    text = path.read_text(errors='replace')
                except OSError:
                    continue
                now = time.monotonic()
                done = self.text[host]
                if not text.startswith(done):
                    done = ''  # a new file
                # whole lines only: a line may be read half written
                end = text.rfind('\n') + 1
                if end > len(done):
                    new = text[len(done):end]
                    self.text[host] = text[:end]
                    for m in HEARTBEAT.finditer(new):
                        self.beats.setdefault(int(m.group(1)), (
                            host, now, float(m.group(2))))
                    for m in STATUS.finditer(new):
                        self.status.append((now, host, int(m.group(1))))
            time.sleep(0.05)


class TwoComputes(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        work = os.environ.get('XLOUD_AIO_WORK') or str(
            pathlib.Path(__file__).resolve().parents[2] / 'build' / 'aio')
        cls.cloud = aio.Cloud(work=work)
        if cls.cloud.computes < 2 or not cls.cloud.all_up():
            raise unittest.SkipTest(
                f'no two-compute cloud runs in {work}: tools/aio.py up '
                f'--computes 2')
        cls.libvirt = {lv.host: lv for lv in cls.cloud.libvirts}
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            cls.osc('server', 'delete', '--wait', server, check=False)

    # -- helpers -----------------------------------------------------------

    @classmethod
    def osc(cls, *args, check=True):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(cls.cloud.os_env('admin'), OS_PROJECT_NAME='demo',
                   PYTHONWARNINGS='ignore')
        proc = subprocess.run([str(cls.cloud.bin / 'openstack'), *args],
                              env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)
        if check and proc.returncode:
            raise CloudError(f'openstack {" ".join(args)}: rc '
                             f'{proc.returncode}: {proc.stderr[-1500:]}')
        return proc.stdout

    @classmethod
    def placement(cls, path):
        token = cls.cloud.token('admin', 'admin')
        status, out = cls.cloud.rest(
            'GET', cls.cloud.url('placement', path), token,
            headers={'OpenStack-API-Version': 'placement 1.20'})
        if status != 200:
            raise CloudError(f'GET {path}: {status} {out}')
        return out

    @classmethod
    def provider(cls, host):
        out = cls.placement(f'/resource_providers?name={host}')
        (rp,) = out['resource_providers']
        return rp['uuid']

    def server(self, server):
        return json.loads(self.osc('server', 'show', server, '-f', 'json'))

    def boot(self, name, flavor):
        out = self.osc('server', 'create', '--flavor', flavor, '--image',
                       aio.IMAGE, '--nic', 'none', '--availability-zone',
                       f'nova:{SOURCE}', '--wait', '-f', 'json', name)
        server = json.loads(out)['id']
        self.servers.append(server)
        return server

    def virsh(self, host, *args):
        return subprocess.run(
            ['virsh', '-q', '-c', self.libvirt[host].uri, *args],
            capture_output=True, text=True)

    def console_path(self, host, server):
        return self.libvirt[host].instances / server / 'console.log'

    def wait_for(self, what, fn, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.2)
        self.fail(f'timed out after {timeout} s waiting for {what}')

    def run_in_guest(self, host, domain, server, run, command):
        """Type ``XLOUD-RUN <run> <command>`` on the guest's serial pty.

        tools/realhv.py's /init runs it; returns its output lines.
        """
        xml = self.virsh(host, 'dumpxml', domain).stdout
        pty = re.search(r"<serial type='pty'>\s*<source path='([^']+)'",
                        xml).group(1)
        path = self.console_path(host, server)
        fd = os.open(pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)
            # QEMU reads the pty only once it notices it is open
            time.sleep(1.5)
            os.write(fd, f'XLOUD-RUN {run} {command}\n'.encode())
            end = re.compile(rf'XLOUD-RUN-BEGIN {run}\n(.*?)'
                             rf'XLOUD-RUN-END {run} rc=(\d+)', re.S)
            m = self.wait_for(f'the guest to run {command!r}',
                              lambda: end.search(path.read_text(
                                  errors='replace')), 60)
        finally:
            os.close(fd)
        # the heartbeat and status lines interleave with the output
        return [line.strip() for line in m.group(1).splitlines()
                if line.strip() and not line.startswith('XLOUD-')]

    # -- the test --------------------------------------------------------

    def test_grow_on_a_full_compute_moves_it_live(self):
        flavor = aio.FLAVOR
        source_rp, dest_rp = self.provider(SOURCE), self.provider(DEST)
        inventory = self.placement(
            f'/resource_providers/{source_rp}/inventories')['inventories']
        capacity = int((inventory['VCPU']['total'] -
                        inventory['VCPU']['reserved']) *
                       inventory['VCPU']['allocation_ratio'])
        for rp in (source_rp, dest_rp):
            traits = self.placement(f'/resource_providers/{rp}/traits')
            self.assertIn('CUSTOM_XLOUD_ADJUST', traits['traits'])

        server = self.boot('xloud-2c', flavor['name'])
        srv = self.server(server)
        self.assertEqual(SOURCE, srv['OS-EXT-SRV-ATTR:host'])
        domain = srv['OS-EXT-SRV-ATTR:instance_name']
        grown = min(flavor['vcpus'], capacity)
        start_vcpus = flavor['minimum_cpu']
        self.assertLess(start_vcpus, grown, 'nothing to grow to')

        # fill the source: a plain server with the VCPUs left there
        used = self.placement(
            f'/resource_providers/{source_rp}/usages')['usages']['VCPU']
        left = capacity - used
        if left > 0:
            name = f'{FILLER["name"]}-{left}'
            if self.osc('flavor', 'show', name, check=False) == '':
                self.osc('flavor', 'create', '--vcpus', str(left), '--ram',
                         str(FILLER['ram']), '--disk', str(FILLER['disk']),
                         name)
            filler = self.boot('xloud-2c-filler', name)
            self.assertEqual(SOURCE,
                             self.server(filler)['OS-EXT-SRV-ATTR:host'])
        usages = self.placement(
            f'/resource_providers/{source_rp}/usages')['usages']
        self.assertEqual(capacity, usages['VCPU'], 'the source is not full')

        watch = Console({h: self.console_path(h, server)
                         for h in (SOURCE, DEST)})
        watch.start()
        try:
            self.wait_for('the guest to show its vCPUs', lambda: any(
                h == SOURCE and c == start_vcpus
                for _t, h, c in watch.status))
            (boot_id,) = self.run_in_guest(
                SOURCE, domain, server, 1,
                'cat /proc/sys/kernel/random/boot_id; '
                '(i=0; while :; do i=$((i+1)); echo "XLOUD-HB $i '
                '$(cut -d" " -f1 /proc/uptime)"; sleep 0.1; done) '
                '> /dev/ttyS0 &')
            self.wait_for('heartbeats', lambda: len(watch.beats) > 5, 60)

            posted = time.monotonic()
            self.osc('server', 'adjust', server, '--vcpus', str(grown),
                     '--live-migrate', '--wait')
            returned = time.monotonic()
            seen = self.wait_for(
                'the guest to see the new size on the destination',
                lambda: [t for t, h, c in watch.status
                         if h == DEST and c == grown])[0]
            # heartbeats on the destination after the new size
            self.wait_for('heartbeats after the grow', lambda: any(
                h == DEST and t > seen for h, t, _u in watch.beats.values()),
                60)
        finally:
            watch.stopping = True
            watch.join()

        srv = self.server(server)
        self.assertEqual(DEST, srv['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ACTIVE', srv['status'])
        # the guest never rebooted: the same boot id, and the heartbeat
        # the guest started before the move still runs after it
        self.assertEqual([boot_id], self.run_in_guest(
            DEST, domain, server, 2, 'cat /proc/sys/kernel/random/boot_id'))
        counters = sorted(watch.beats)
        on_source = [n for n in counters if watch.beats[n][0] == SOURCE]
        on_dest = [n for n in counters if watch.beats[n][0] == DEST]
        self.assertTrue(on_source and on_dest, watch.beats)
        self.assertGreater(on_dest[0], on_source[-1])
        self.assertGreater(watch.beats[on_dest[0]][2],
                           watch.beats[on_source[-1]][2], 'uptime went back')
        # no heartbeat lost on either host; at the switch, a line may be
        # split between the two console logs (then it is not counted)
        for beats in (on_source, on_dest):
            self.assertEqual(list(range(beats[0], beats[-1] + 1)), beats)
        self.assertLessEqual(on_dest[0] - on_source[-1], 2,
                             'heartbeats were lost at the switch')
        breaks = [(a, b) for a, b in zip(counters, counters[1:])
                  if b != a + 1]
        times = [watch.beats[n][1] for n in counters]
        gap = max(b - a for a, b in zip(times, times[1:]))

        # placement: the new size on the destination, nothing on the source
        allocations = self.placement(f'/allocations/{server}')['allocations']
        self.assertEqual([dest_rp], list(allocations))
        self.assertEqual(grown, allocations[dest_rp]['resources']['VCPU'])
        self.assertEqual(max(left, 0), self.placement(
            f'/resource_providers/{source_rp}/usages')['usages']['VCPU'],
            'the source holds more than the filler')

        job = self.virsh(DEST, 'domjobinfo', '--completed', domain).stdout
        downtime = re.search(r'Total downtime:\s+(\d+)', job)
        elapsed = re.search(r'Time elapsed:\s+(\d+)', job)
        print(f'\n  request to guest seeing {grown} vCPUs: '
              f'{seen - posted:.1f} s (the CLI returned after '
              f'{returned - posted:.1f} s)\n'
              f'  libvirt job on {DEST}: '
              f'{elapsed.group(1) + " ms" if elapsed else "n/a"}, '
              f'downtime '
              f'{downtime.group(1) + " ms" if downtime else "n/a"}\n'
              f'  heartbeat: {len(on_source)} lines on {SOURCE}, '
              f'{len(on_dest)} on {DEST}, breaks in the counter: '
              f'{breaks or "none"}, largest gap seen by the host: '
              f'{gap:.2f} s (every 0.1 s, polled every 0.05 s)',
              file=sys.stderr, flush=True)
