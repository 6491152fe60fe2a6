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

"""End to end, on the one-node cloud of tools/aio.py.

The cloud is driven only through its public interfaces: the ``openstack``
CLI with our plugin, REST (Nova, Placement, Keystone) and the guest's
console log. The faults are done to the services as an operator's bad day
would do them: ``kill -9``, a RabbitMQ restart, a forced-down service.

One server, booted in setUpClass, goes through the tests in their order
(unittest runs them by name): each test starts from the size the one
before it left, and says it. Three things must agree after every step:
the allocation in Placement, ``openstack server adjust show`` and what
the guest itself reports on its console.

Run by tools/run_checks.py's "e2e" stage, which brings the cloud up (or
reuses a running one) and sets XLOUD_AIO_WORK.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import aio  # noqa: E402

MiB = 1024
STATUS = re.compile(
    r'^XLOUD-GUEST cpus=(\d+) present=(\d+) memtotal_kib=(\d+)', re.M)
#: Seconds: a guest boot under TCG, an adjust, a service restart.
TIMEOUT = 240
#: Seconds from the API accepting an adjust whose message was lost to its
#: end, the admin guide's bound at the defaults (xloud-operations,
#: "adjust_timeout"): [xloud] adjust_timeout plus lost_adjust_interval
#: (30 + 10), plus, right after a broker restart, [DEFAULT]
#: rpc_response_timeout (60) once: a call nova-compute had in flight to
#: nova-conductor when the broker went (a periodic task's, the more likely
#: the busier the host) lost its reply and waits that long before the
#: periodic tasks go on. Plus 20 for nova-compute to see the broker is
#: back and for its periodic tasks' jitter.
LOST_BOUND = 30 + 10 + 60 + 20
NAME = 'xloud-e2e'


class CloudError(Exception):
    pass


class EndToEnd(unittest.TestCase):

    cloud = None
    server = None

    @classmethod
    def setUpClass(cls):
        work = os.environ.get('XLOUD_AIO_WORK')
        if not work:
            raise unittest.SkipTest('XLOUD_AIO_WORK is not set: run me with '
                                    'tools/run_checks.py --only e2e')
        cls.cloud = aio.Cloud(work=work)
        cls.tokens = {}
        cls.server = cls.boot()

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.rest('DELETE', 'nova-api', f'/servers/{cls.server}')

    def setUp(self):
        super().setUp()
        self.started = time.monotonic()

    def tearDown(self):
        # on the line of unittest's verbose "... ok"
        sys.stderr.write(f'({time.monotonic() - self.started:.0f} s) ')
        super().tearDown()

    # -- the public interfaces -----------------------------------------

    @classmethod
    def env(cls, user):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(cls.cloud.os_env(user), OS_PROJECT_NAME='demo',
                   PYTHONWARNINGS='ignore')
        return env

    @classmethod
    def osc(cls, *args, user='admin', check=True, timeout=TIMEOUT):
        """``openstack <args>`` as ``user``; (rc, stdout, stderr)."""
        proc = subprocess.run([str(cls.cloud.bin / 'openstack'), *args],
                              env=cls.env(user), capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode:
            raise CloudError(f'openstack {" ".join(args)}: rc '
                             f'{proc.returncode}: {proc.stderr[-1500:]}')
        return proc.returncode, proc.stdout, proc.stderr

    @classmethod
    def token(cls, user='admin'):
        if user not in cls.tokens:
            cls.tokens[user] = cls.cloud.token(user, 'demo')
        return cls.tokens[user]

    @classmethod
    def rest(cls, method, service, path, body=None, user='admin',
             microversion=None):
        headers = {}
        if microversion:
            headers['OpenStack-API-Version'] = microversion
        base = '/v2.1' if service == 'nova-api' else ''
        return cls.cloud.rest(method, cls.cloud.url(service, base + path),
                              cls.token(user), body, headers=headers)

    @classmethod
    def get_server(cls, server=None):
        status, out = cls.rest('GET', 'nova-api',
                               f'/servers/{server or cls.server}')
        if status != 200:
            raise CloudError(f'GET server: {status} {out}')
        return out['server']

    @classmethod
    def wait_server(cls, status, server=None, timeout=TIMEOUT):
        """Wait until the server has ``status`` and no task."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            srv = cls.get_server(server)
            if (srv['status'] == status and
                    srv['OS-EXT-STS:task_state'] is None):
                return srv
            if srv['status'] == 'ERROR':
                raise CloudError(f'server in ERROR: {srv.get("fault")}')
            time.sleep(1)
        raise CloudError(f'server not {status} with no task after '
                         f'{timeout} s: {srv["status"]} '
                         f'{srv["OS-EXT-STS:task_state"]}')

    @classmethod
    def boot(cls):
        rc, out, err = cls.osc(
            'server', 'create', '--flavor', aio.FLAVOR['name'], '--image',
            aio.IMAGE, '--nic', 'none', '--wait', '-f', 'json',
            # on the compute the faults are done to (of two, the first)
            '--availability-zone', f'nova:{cls.cloud.compute.host}', NAME)
        server = json.loads(out)['id']
        return server

    @classmethod
    def console(cls):
        status, out = cls.rest(
            'POST', 'nova-api', f'/servers/{cls.server}/action',
            {'os-getConsoleOutput': {'length': None}})
        if status != 200:
            raise CloudError(f'console output: {status} {out}')
        return out['output']

    def guest_sees(self, vcpus, memory_mb, since=''):
        """Wait until the guest's last status line shows the sizes.

        ``since``: console output before an operation; only status lines
        printed after it count (the log survives a reboot).
        """
        deadline = time.monotonic() + TIMEOUT
        seen = None
        while time.monotonic() < deadline:
            output = self.console()
            if since and output.startswith(since):
                output = output[len(since):]
            found = STATUS.findall(output)
            if found:
                cpus, _present, memtotal = (int(n) for n in found[-1])
                seen = (cpus, memtotal)
                # the kernel keeps 50-70 MiB of its memory for itself
                if (cpus == vcpus and
                        (memory_mb - 100) * MiB < memtotal <=
                        memory_mb * MiB):
                    return
            time.sleep(1)
        self.fail(f'the guest shows {seen} (cpus, MemTotal KiB), not '
                  f'{vcpus} vCPUs and {memory_mb} MiB')

    def allocation(self):
        status, out = self.rest('GET', 'placement',
                                f'/allocations/{self.server}')
        self.assertEqual(200, status, out)
        total = {}
        for rp in out['allocations'].values():
            for rc, amount in rp['resources'].items():
                total[rc] = total.get(rc, 0) + amount
        return total

    def adjust_show(self):
        _rc, out, _err = self.osc('server', 'adjust', 'show', self.server,
                                  '-f', 'json')
        return json.loads(out)

    def assertAgree(self, vcpus, memory_mb, since=''):
        """Placement, adjust show and the guest all say these sizes."""
        self.guest_sees(vcpus, memory_mb, since)
        self.assertEqual({'VCPU': vcpus, 'MEMORY_MB': memory_mb},
                         {k: v for k, v in self.allocation().items()
                          if k in ('VCPU', 'MEMORY_MB')})
        show = self.adjust_show()
        for field, size in (('vcpus', vcpus), ('memory_mb', memory_mb)):
            self.assertEqual(size, show[field]['current'], show)
            self.assertEqual(size, show[field]['allocated'], show)

    def assertNothingStuck(self):
        srv = self.wait_server('ACTIVE')
        self.assertIsNone(srv['OS-EXT-STS:task_state'])
        status, out = self.rest('GET', 'nova-api',
                                f'/servers/{self.server}/os-instance-actions')
        self.assertEqual(200, status, out)
        for action in out['instanceActions']:
            status, detail = self.rest(
                'GET', 'nova-api', f'/servers/{self.server}/'
                f'os-instance-actions/{action["request_id"]}',
                microversion='compute 2.51')
            for event in detail['instanceAction'].get('events', []):
                self.assertIsNotNone(event['finish_time'], detail)

    def last_adjust_event(self):
        """The compute's event of the server's newest adjust action."""
        mv = 'compute 2.84'  # events with their details, for admins
        status, out = self.rest('GET', 'nova-api',
                                f'/servers/{self.server}/os-instance-actions',
                                microversion=mv)
        self.assertEqual(200, status, out)
        newest = [a for a in out['instanceActions']
                  if a['action'] == 'xloud-adjust'][0]
        status, out = self.rest(
            'GET', 'nova-api', f'/servers/{self.server}/os-instance-actions/'
            f'{newest["request_id"]}', microversion=mv)
        self.assertEqual(200, status, out)
        events = [e for e in out['instanceAction']['events']
                  if e['event'] == 'compute_xloud_adjust']
        self.assertEqual(1, len(events), out)
        return events[0]

    def adjust(self, *args):
        self.osc('server', 'adjust', self.server, *args, '--wait')

    def given(self, memory_mb):
        """Start from every vCPU and ``memory_mb``: the test says its size.

        Each test starts from the size the one before it left. Where that
        one failed and left another, this sets it first, by an adjust of
        this test's own, so that one failure does not fail every test
        after it.
        """
        self.wait_server('ACTIVE')
        show = self.adjust_show()
        if (show['vcpus']['current'], show['memory_mb']['current']) != (
                aio.FLAVOR['vcpus'], memory_mb):
            sys.stderr.write('(an earlier test left another size: setting '
                             'it) ')
            self.adjust('--vcpus', str(aio.FLAVOR['vcpus']),
                        '--memory', str(memory_mb))

    # -- the tests, in order ----------------------------------------------

    def test_01_boots_at_the_minimum(self):
        self.assertAgree(aio.FLAVOR['minimum_cpu'],
                         aio.FLAVOR['minimum_memory'])
        show = self.adjust_show()
        self.assertEqual(aio.FLAVOR['vcpus'], show['vcpus']['maximum'])
        self.assertEqual(aio.FLAVOR['ram'], show['memory_mb']['maximum'])

    def test_02_grows_vcpus_and_memory(self):
        self.adjust('--vcpus', str(aio.FLAVOR['vcpus']), '--memory', '768')
        self.assertAgree(aio.FLAVOR['vcpus'], 768)

    def test_03_shrinks_memory(self):
        self.adjust('--memory', '512')
        self.assertAgree(aio.FLAVOR['vcpus'], 512)

    def test_04_member_is_forbidden(self):
        status, out = self.rest(
            'POST', 'nova-api', f'/os-xloud-adjust/{self.server}',
            {'current_memory_mb': 768}, user='member')
        self.assertEqual(403, status, out)
        status, out = self.rest('GET', 'nova-api',
                                f'/os-xloud-adjust/{self.server}',
                                user='member')
        self.assertEqual(403, status, out)
        rc, _out, err = self.osc('server', 'adjust', 'show', self.server,
                                 user='member', check=False)
        self.assertNotEqual(0, rc)
        self.assertIn('403', err)
        self.assertAgree(aio.FLAVOR['vcpus'], 512)

    def test_05_compute_killed_mid_adjust(self):
        """kill -9 nova-compute right after the API accepted an adjust.

        Whether the adjust was applied or not, the compute that starts
        again resolves it: the server is not left in a task, and the
        three agree on one size.
        """
        self.given(512)
        status, out = self.rest('POST', 'nova-api',
                                f'/os-xloud-adjust/{self.server}',
                                {'current_memory_mb': 1024})
        self.assertEqual(202, status, out)
        self.cloud.kill_compute()
        self.cloud.start_compute()
        self.assertNothingStuck()
        memory = self.adjust_show()['memory_mb']['current']
        self.assertIn(memory, (512, 1024))
        self.assertAgree(aio.FLAVOR['vcpus'], memory)
        # and the compute serves adjusts again
        self.adjust('--memory', '512')
        self.assertAgree(aio.FLAVOR['vcpus'], 512)

    def test_06_adjust_lost_in_a_rabbitmq_restart(self):
        """An adjust the broker drops ends, failed, within the bound.

        nova-compute is paused (SIGSTOP) across a RabbitMQ restart, so its
        queue is gone when the API casts the adjust, and the broker drops
        the message: the loss happens every time, not by chance. Within
        LOST_BOUND seconds of the API's answer the compute resolves it as
        lost; the server keeps the size it had, and the next adjust works.
        """
        self.given(512)
        self.cloud.pause('nova-compute')
        try:
            self.cloud.restart_rabbitmq()
            status, out = self.rest('POST', 'nova-api',
                                    f'/os-xloud-adjust/{self.server}',
                                    {'current_memory_mb': 768})
            accepted = time.monotonic()
            self.assertEqual(202, status, out)
        finally:
            self.cloud.resume('nova-compute')
        self.wait_server('ACTIVE', timeout=LOST_BOUND + 30)
        took = time.monotonic() - accepted
        sys.stderr.write(f'(resolved as lost {took:.0f} s after the API '
                         f'accepted it) ')
        self.assertLessEqual(took, LOST_BOUND)
        event = self.last_adjust_event()
        self.assertEqual('Error', event['result'], event)
        self.assertIn('its message was probably lost', event['details'])
        self.assertNothingStuck()
        self.assertAgree(aio.FLAVOR['vcpus'], 512)
        # the compute declared its queue again: adjusts reach it
        self.adjust('--memory', '640')
        self.assertAgree(aio.FLAVOR['vcpus'], 640)

    def test_07_forced_down_compute_refuses(self):
        self.given(640)
        mv = 'compute 2.53'  # services by UUID, forced_down in the body
        status, out = self.rest('GET', 'nova-api',
                                '/os-services?binary=nova-compute&host='
                                f'{self.cloud.compute.host}',
                                microversion=mv)
        (service,) = [s['id'] for s in out['services']]
        status, out = self.rest('PUT', 'nova-api', f'/os-services/{service}',
                                {'forced_down': True}, microversion=mv)
        self.assertEqual(200, status, out)
        try:
            status, out = self.rest('POST', 'nova-api',
                                    f'/os-xloud-adjust/{self.server}',
                                    {'current_memory_mb': 512})
            self.assertEqual(409, status, out)
        finally:
            status, out = self.rest('PUT', 'nova-api',
                                    f'/os-services/{service}',
                                    {'forced_down': False}, microversion=mv)
            self.assertEqual(200, status, out)
        self.assertNothingStuck()
        self.assertAgree(aio.FLAVOR['vcpus'], 640)

    def test_08_hard_reboot_keeps_the_size(self):
        self.given(640)
        before = self.console()
        self.osc('server', 'reboot', '--hard', '--wait', self.server)
        self.assertAgree(aio.FLAVOR['vcpus'], 640, since=before)

    def test_09_stop_start_keeps_the_size(self):
        self.given(640)
        before = self.console()  # a stopped server has none to show
        self.osc('server', 'stop', self.server)
        self.wait_server('SHUTOFF')
        self.osc('server', 'start', self.server)
        self.wait_server('ACTIVE')
        self.assertAgree(aio.FLAVOR['vcpus'], 640, since=before)

    def test_10_delete_frees_the_allocation(self):
        server, type(self).server = self.server, None
        self.osc('server', 'delete', '--wait', server)
        status, out = self.rest('GET', 'placement', f'/allocations/{server}')
        self.assertEqual(200, status, out)
        self.assertEqual({}, out['allocations'])


if __name__ == '__main__':
    unittest.main()
