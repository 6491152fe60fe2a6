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

"""Scenario 7 of "make bench": the one-node cloud of tools/aio.py.

Benchmarks, not tests. On one real guest, in one run:

- 7a: live adjust end to end (POST until the guest reports its new vCPU
  online and its memory) against a cold resize to the same size (resize
  and confirm until the guest is back up and reports it), each with the
  guest's downtime;
- 7b: the API path of adjust (POST until 202) against pause, on real
  services;
- 7c, on a cloud of two computes (``tools/aio.py up --computes 2``, as
  "make bench" brings up): growing a server whose compute is full, with
  ``"live_migrate": true`` (POST until the guest shows its new size on the
  other compute), against a cold resize of the same server from the same
  full compute to the same size, with the guest's pause during the live
  move (libvirt's job statistics on the destination).

Over REST and the console log only, like the end-to-end tests.
"""

import re
import statistics
import subprocess
import time

import aio

SCENARIO = '7 real cloud'
STATUS = re.compile(
    r'^XLOUD-GUEST cpus=(\d+) present=(\d+) memtotal_kib=(\d+)$', re.M)
#: The size both 7a paths reach, from the minimum.
GROWN = {'vcpus': aio.FLAVOR['vcpus'], 'ram': 768}


def p95(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) -
                                                          1))))]


def row(name, unit, samples, reference=None, ref=None, note=''):
    p50 = statistics.median(samples)
    ratio = None
    if ref is not None and ref['p50']:
        ratio = round(p50 / ref['p50'], 3)
    return {'scenario': SCENARIO, 'row': name, 'unit': unit,
            'n': len(samples), 'p50': round(p50, 3),
            'p95': round(p95(samples), 3), 'min': round(min(samples), 3),
            'max': round(max(samples), 3), 'reference': reference,
            'ratio': ratio, 'target': None, 'met': None, 'note': note}


class Bench:

    def __init__(self, cloud):
        self.cloud = cloud
        self.token = cloud.token('admin', 'demo')

    def nova(self, method, path, body=None, expect=None):
        # 2.37: "networks": "none"
        status, out = self.cloud.rest(
            method, self.cloud.url('nova-api', '/v2.1' + path), self.token,
            body, headers={'OpenStack-API-Version': 'compute 2.37'})
        if expect is not None and status != expect:
            raise aio.Failed(f'{method} {path}: {status} {out}')
        return out

    def server(self, uuid):
        return self.nova('GET', f'/servers/{uuid}', expect=200)['server']

    def wait(self, uuid, status, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            srv = self.server(uuid)
            if (srv['status'] == status and
                    srv['OS-EXT-STS:task_state'] is None):
                return srv
            if srv['status'] == 'ERROR':
                raise aio.Failed(f'server in ERROR: {srv.get("fault")}')
            time.sleep(0.2)
        raise aio.Failed(f'server not {status} after {timeout} s')

    def console(self, uuid):
        out = self.nova('POST', f'/servers/{uuid}/action',
                        {'os-getConsoleOutput': {'length': None}})
        # not while the server migrates (409): nothing new to show
        return (out.get('output') if isinstance(out, dict) else '') or ''

    def wait_guest(self, uuid, vcpus, memory_mb, since='', timeout=300):
        """Seconds until the guest's console shows the sizes."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                output = self.console(uuid)
            except aio.Failed:
                output = ''
            if since and output.startswith(since):
                output = output[len(since):]
            found = aio_status(output)
            if found and found[0] == vcpus and (
                    (memory_mb - 100) * 1024 < found[1] <= memory_mb * 1024):
                return time.monotonic() - start
            time.sleep(0.2)
        raise aio.Failed(f'the guest did not show {vcpus} vCPUs and '
                         f'{memory_mb} MiB in {timeout} s')

    def boot(self, name, flavor, host=None, guest=True):
        server = {'name': name, 'flavorRef': flavor,
                  'imageRef': self.image(), 'networks': 'none'}
        if host:
            server['availability_zone'] = f'nova:{host}'
        out = self.nova('POST', '/servers', {'server': server}, expect=202)
        uuid = out['server']['id']
        self.wait(uuid, 'ACTIVE')
        if guest:
            self.wait_guest(uuid, aio.FLAVOR['minimum_cpu'],
                            aio.FLAVOR['minimum_memory'])
        return uuid

    def image(self):
        status, out = self.cloud.rest(
            'GET', self.cloud.url('glance', f'/v2/images?name={aio.IMAGE}'),
            self.token)
        return out['images'][0]['id']

    def flavor(self, name, vcpus, ram, specs=None):
        flavors = self.nova('GET', '/flavors')['flavors']
        for f in flavors:
            if f['name'] == name:
                return f['id']
        fid = self.nova('POST', '/flavors', {'flavor': {
            'name': name, 'vcpus': vcpus, 'ram': ram, 'disk': 1}},
            expect=200)['flavor']['id']
        if specs:
            self.nova('POST', f'/flavors/{fid}/os-extra_specs',
                      {'extra_specs': specs}, expect=200)
        return fid

    def delete(self, uuid, wait=False):
        self.nova('DELETE', f'/servers/{uuid}')
        deadline = time.monotonic() + 120
        while wait and time.monotonic() < deadline:
            status, _out = self.cloud.rest(
                'GET', self.cloud.url('nova-api', f'/v2.1/servers/{uuid}'),
                self.token)
            if status == 404:
                return
            time.sleep(0.5)

    def adjust_vs_resize(self, repeat):
        """7a: both paths from the minimum to GROWN, on fresh guests."""
        demo = self.flavor(aio.FLAVOR['name'], 0, 0)
        # the cold resize reaches the same size as its flavor's only size
        fixed = self.flavor('xloud.bench.fixed', GROWN['vcpus'],
                            GROWN['ram'])
        adjust, resize, resize_down = [], [], []
        rebooted = 0
        for i in range(repeat):
            uuid = self.boot(f'xloud-bench-adjust-{i}', demo)
            before = self.console(uuid)
            start = time.monotonic()
            self.nova('POST', f'/os-xloud-adjust/{uuid}', {
                'current_vcpus': GROWN['vcpus'],
                'current_memory_mb': GROWN['ram']}, expect=202)
            self.wait_guest(uuid, GROWN['vcpus'], GROWN['ram'])
            adjust.append(time.monotonic() - start)
            # a reboot would start again at one present vCPU
            after = self.console(uuid)
            present = [int(p) for _c, p, _m in STATUS.findall(
                after[len(before):] if after.startswith(before) else after)]
            rebooted += any(b < a for a, b in zip(present, present[1:]))
            self.delete(uuid)
            uuid = self.boot(f'xloud-bench-resize-{i}', demo)
            before = self.console(uuid)
            start = time.monotonic()
            self.nova('POST', f'/servers/{uuid}/action',
                      {'resize': {'flavorRef': fixed}}, expect=202)
            self.wait(uuid, 'VERIFY_RESIZE')
            self.nova('POST', f'/servers/{uuid}/action',
                      {'confirmResize': None}, expect=204)
            self.wait(uuid, 'ACTIVE')
            down_from = self.wait_guest(uuid, GROWN['vcpus'], GROWN['ram'],
                                        since=before)
            resize.append(time.monotonic() - start)
            resize_down.append(down_from)
            self.delete(uuid)
        ref = row('cold resize + confirm until the guest is back up with '
                  'the new size', 's', resize,
                  note=f'guest downtime: up to the whole of it (p50 '
                       f'{statistics.median(resize):.1f} s): the guest is '
                       f'stopped early and is back when it shows the size')
        return [ref, row(
            f'live adjust 1->{GROWN["vcpus"]} vCPU, 256->{GROWN["ram"]} '
            f'MiB: POST until the guest shows them', 's', adjust,
            reference=ref['row'], ref=ref,
            note=(f'guest downtime 0: its console shows no reboot '
                  f'({rebooted} of {len(adjust)} runs rebooted)'))]

    def full_host(self, repeat):
        """7c: grow on a full compute, moving, against a cold resize.

        Both from the minimum to GROWN, on fresh guests. The first compute
        is filled: a plain server takes every VCPU that the server at its
        minimum leaves.
        """
        source, dest = (c.host for c in self.cloud.computes_[:2])
        demo = self.flavor(aio.FLAVOR['name'], 0, 0)
        fixed = self.flavor('xloud.bench.fixed', GROWN['vcpus'],
                            GROWN['ram'])
        rp = self.cloud.rest('GET', self.cloud.url(
            'placement', f'/resource_providers?name={source}'),
            self.token, headers={'OpenStack-API-Version': 'placement 1.14'}
        )[1]['resource_providers'][0]['uuid']
        inventory = self.cloud.rest('GET', self.cloud.url(
            'placement', f'/resource_providers/{rp}/inventories/VCPU'),
            self.token)[1]
        capacity = int((inventory['total'] - inventory['reserved']) *
                       inventory['allocation_ratio'])
        left = capacity - aio.FLAVOR['minimum_cpu']
        filler = None
        if left > 0:
            filler = self.boot('xloud-bench-filler', self.flavor(
                f'xloud.bench.filler-{left}', left, 256), source,
                guest=False)
        moved, downtime, resize = [], [], []
        try:
            for i in range(repeat):
                uuid = self.boot(f'xloud-bench-move-{i}', demo, source)
                start = time.monotonic()
                self.nova('POST', f'/os-xloud-adjust/{uuid}', {
                    'current_vcpus': GROWN['vcpus'],
                    'current_memory_mb': GROWN['ram'],
                    'live_migrate': True}, expect=202)
                self.wait_guest(uuid, GROWN['vcpus'], GROWN['ram'])
                moved.append(time.monotonic() - start)
                srv = self.wait(uuid, 'ACTIVE')
                if srv['OS-EXT-SRV-ATTR:host'] != dest:
                    raise aio.Failed(f'7c: the server is on '
                                     f'{srv["OS-EXT-SRV-ATTR:host"]}')
                job = subprocess.run(
                    ['virsh', '-q', '-c', self.cloud.libvirts[1].uri,
                     'domjobinfo', '--completed',
                     srv['OS-EXT-SRV-ATTR:instance_name']],
                    capture_output=True, text=True).stdout
                found = re.search(r'Total downtime:\s+(\d+)', job)
                if found:
                    downtime.append(int(found.group(1)))
                self.delete(uuid, wait=True)
                uuid = self.boot(f'xloud-bench-cold-{i}', demo, source)
                before = self.console(uuid)
                start = time.monotonic()
                self.nova('POST', f'/servers/{uuid}/action',
                          {'resize': {'flavorRef': fixed}}, expect=202)
                self.wait(uuid, 'VERIFY_RESIZE')
                self.nova('POST', f'/servers/{uuid}/action',
                          {'confirmResize': None}, expect=204)
                self.wait(uuid, 'ACTIVE')
                self.wait_guest(uuid, GROWN['vcpus'], GROWN['ram'],
                                since=before)
                resize.append(time.monotonic() - start)
                self.delete(uuid, wait=True)
        finally:
            if filler:
                self.delete(filler, wait=True)
        ref = row(f'full compute: cold resize + confirm (moves to {dest}) '
                  f'until the guest is back up with the new size', 's',
                  resize, note='guest downtime: up to the whole of it')
        pause = (f'p50 {statistics.median(downtime):.0f} ms, max '
                 f'{max(downtime)} ms' if downtime else 'not reported')
        return [ref, row(
            f'full compute: adjust with live_migrate (moves live to '
            f'{dest}, grows there): POST until the guest shows '
            f'{GROWN["vcpus"]} vCPUs, {GROWN["ram"]} MiB', 's', moved,
            reference=ref['row'], ref=ref,
            note=f'guest paused during the move (libvirt downtime): '
                 f'{pause}')]

    def api_path(self, repeat):
        """7b: POST adjust until 202 against POST pause until 202."""
        uuid = self.boot('xloud-bench-api', self.flavor(
            aio.FLAVOR['name'], 0, 0))
        adjust, pause = [], []
        sizes = (384, 256)
        for i in range(repeat):
            start = time.monotonic()
            self.nova('POST', f'/os-xloud-adjust/{uuid}',
                      {'current_memory_mb': sizes[i % 2]}, expect=202)
            adjust.append(time.monotonic() - start)
            self.wait(uuid, 'ACTIVE')
            start = time.monotonic()
            self.nova('POST', f'/servers/{uuid}/action', {'pause': None},
                      expect=202)
            pause.append(time.monotonic() - start)
            self.wait(uuid, 'PAUSED')
            self.nova('POST', f'/servers/{uuid}/action', {'unpause': None},
                      expect=202)
            self.wait(uuid, 'ACTIVE')
        self.delete(uuid)
        ref = row('POST pause until 202 (real services)', 'ms',
                  [s * 1000 for s in pause])
        return [ref, row('POST /os-xloud-adjust until 202 (real services)',
                         'ms', [s * 1000 for s in adjust],
                         reference=ref['row'], ref=ref,
                         note='keystone token check, policy, DB, placement '
                              'claim, RPC cast')]


def aio_status(output):
    """(cpus, memtotal_kib) of the guest's last whole status line."""
    found = STATUS.findall(output)
    if not found:
        return None
    return int(found[-1][0]), int(found[-1][2])


def run(cloud, repeat, only=None):
    """The rows of scenario 7 (those of ``only``: 7a, 7b, 7c)."""
    bench = Bench(cloud)
    parts = {'7a': bench.adjust_vs_resize, '7b': bench.api_path,
             '7c': bench.full_host}
    if cloud.computes < 2:
        parts.pop('7c')
    rows = []
    for name, part in parts.items():
        if not only or name in only:
            rows += part(repeat)
    return rows
