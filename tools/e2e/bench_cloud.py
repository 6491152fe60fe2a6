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
  services.

Over REST and the console log only, like the end-to-end tests.
"""

import re
import statistics
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
        return out['output'] if isinstance(out, dict) else ''

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

    def boot(self, name, flavor):
        out = self.nova('POST', '/servers', {'server': {
            'name': name, 'flavorRef': flavor, 'imageRef': self.image(),
            'networks': 'none'}}, expect=202)
        uuid = out['server']['id']
        self.wait(uuid, 'ACTIVE')
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

    def delete(self, uuid):
        self.nova('DELETE', f'/servers/{uuid}')

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


def run(cloud, repeat):
    """The rows of scenario 7."""
    bench = Bench(cloud)
    return bench.adjust_vs_resize(repeat) + bench.api_path(repeat)
