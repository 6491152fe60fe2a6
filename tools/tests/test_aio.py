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

"""Tests for tools/aio.py and its units (tools/cloud/) that start nothing.

Only a short ``sleep`` is run, to try the process helpers.
"""

import os
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import aio  # noqa: E402
from cloud import base  # noqa: E402
from cloud import nova  # noqa: E402


class TestIni(unittest.TestCase):

    def test_sections_in_order(self):
        self.assertEqual(
            '[DEFAULT]\nhost = aio\nworkers = 1\n\n[vnc]\nenabled = false\n',
            base.ini({'DEFAULT': {'host': 'aio', 'workers': 1},
                      'vnc': {'enabled': 'false'}}))

    def test_empty_section(self):
        self.assertEqual('[empty]\n', base.ini({'empty': {}}))


class TestNode(unittest.TestCase):

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.node = base.Node(tmp.name, pathlib.Path(tmp.name) / 'aio')

    def test_no_pid_file(self):
        self.assertIsNone(self.node.pid('nothing'))
        self.assertFalse(self.node.stop('nothing'))

    def test_bad_pid_file(self):
        self.node.run_dir.mkdir(parents=True)
        self.node.pidfile('bad').write_text('not a pid\n')
        self.assertIsNone(self.node.pid('bad'))

    def test_spawn_and_stop(self):
        self.node.work.mkdir(parents=True)
        pid = self.node.spawn('sleeper', ['sleep', '60'])
        self.assertEqual(pid, self.node.pid('sleeper'))
        self.assertTrue(self.node.stop('sleeper', wait=5))
        self.assertIsNone(self.node.pid('sleeper'))
        self.assertFalse(self.node.pidfile('sleeper').exists())
        self.assertTrue((self.node.logs / 'sleeper.log').exists())

    def test_wait_for_a_dead_service(self):
        with self.assertRaisesRegex(base.Failed, 'gone died while starting'):
            self.node.wait_for('gone', lambda: False, 5, name='gone')

    def test_fatal_reads_since_the_start(self):
        self.node.logs.mkdir(parents=True)
        log = self.node.app_log('nova-compute')
        log.write_text('2026 1 ERROR nova nova.exception.InvalidX: old\n')
        self.node.mark_log('nova-compute')
        self.assertIsNone(self.node.fatal('nova-compute'))
        with open(log, 'a') as f:
            f.write('2026 2 ERROR nova nova.exception.InvalidY: new\n')
        self.assertIn('InvalidY: new', self.node.fatal('nova-compute'))

    def test_command_fails(self):
        self.node.work.mkdir(parents=True)
        with self.assertRaisesRegex(base.Failed, 'rc 3'):
            self.node.command(['sh', '-c', 'exit 3'])
        self.assertIn('rc=3', (self.node.logs / 'setup.log').read_text())


class TestCloud(unittest.TestCase):

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.work = pathlib.Path(tmp.name)
        self.cloud = aio.Cloud(work=self.work)

    def test_units_stop_in_the_order_of_all(self):
        self.assertEqual(aio.ALL, tuple(self.cloud.units))

    def test_nothing_runs(self):
        self.assertEqual([], self.cloud.running())

    def test_configs(self):
        venv = self.work / 'venv'
        for name in ('glance/glance-api-paste.ini', 'nova/api-paste.ini'):
            (venv / 'etc' / name).parent.mkdir(parents=True)
            (venv / 'etc' / name).write_text('')
        self.cloud.write_configs()
        conf = (self.work / 'etc/nova/nova.conf').read_text()
        self.assertIn('host = aio\n', conf)
        self.assertIn(f'connection_uri = {self.cloud.libvirt.uri}\n', conf)
        for path in ('keystone/keystone.conf', 'placement/placement.conf',
                     'glance/glance-api.conf', 'neutron/neutron.conf',
                     'neutron/ml2_conf.ini'):
            self.assertIn('[', (self.work / 'etc' / path).read_text())

    def test_a_second_compute_has_its_own_name_and_config(self):
        extra = self.work / 'compute2.conf'
        compute = nova.NovaCompute(self.cloud.node, self.cloud.libvirt,
                                   name='nova-compute-2',
                                   config_files=[nova.conf(self.cloud.node),
                                                 extra])
        self.assertEqual(self.work / 'run/nova-compute-2.pid',
                         self.cloud.node.pidfile(compute.name))
        self.assertEqual([nova.conf(self.cloud.node), extra],
                         compute.config_files)

    def test_two_computes(self):
        cloud = aio.Cloud(work=self.work, computes=2)
        self.assertEqual(('nova-compute-aio2', 'nova-compute'),
                         tuple(cloud.units)[:2])
        self.assertEqual(['aio', 'aio2'], [c.host for c in cloud.computes_])
        (self.work / 'venv/etc/nova').mkdir(parents=True)
        (self.work / 'venv/etc/nova/api-paste.ini').write_text('')
        for compute, ip in zip(cloud.computes_, ('127.0.0.2', '127.0.0.3')):
            conf = compute.node_config().read_text()
            self.assertIn(f'host = {compute.host}\n', conf)
            self.assertIn(f'live_migration_inbound_addr = {ip}\n', conf)
            self.assertIn('connection_uri = qemu:///system\n', conf)
            self.assertEqual(compute.config_files[-1],
                             compute.node_config())

    def test_two_computes_run_in_their_libvirtd_namespaces(self):
        cloud = aio.Cloud(work=self.work, computes=2)
        compute = cloud.computes_[1]
        self.assertRaises(aio.Failed, compute.prefix)
        cloud.node.pidfile(compute.libvirt.name).parent.mkdir(parents=True)
        cloud.node.pidfile(compute.libvirt.name).write_text(
            f'{os.getpid()}\n')
        self.assertEqual(['nsenter', '-t', str(os.getpid()), '-m', '-u'],
                         compute.prefix())
        self.assertEqual([], self.cloud.compute.prefix())

    def test_openrc_and_env(self):
        self.assertEqual(self.work / 'member-openrc',
                         self.cloud.openrc('member'))
        env = self.cloud.os_env('member')
        self.assertEqual('demo', env['OS_PROJECT_NAME'])
        self.assertEqual(aio.base.url('keystone', '/v3'), env['OS_AUTH_URL'])


if __name__ == '__main__':
    unittest.main()
