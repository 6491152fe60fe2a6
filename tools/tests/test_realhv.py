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

"""Tests for tools/realhv.py that need no hypervisor."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from unittest import mock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import realhv  # noqa: E402


def read_newc(data):
    """[(name, mode, rdev major, rdev minor, data)] of a newc archive."""
    entries, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b'070701', data[pos:pos + 6]
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16)
             for i in range(13)]
        namesize, filesize = f[11], f[6]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + filesize]
        pos += filesize + (-filesize % 4)
        if name == 'TRAILER!!!':
            return entries
        entries.append((name, f[1], f[9], f[10], body))


class CpioTest(unittest.TestCase):

    def test_round_trip(self):
        archive = realhv.Cpio()
        archive.dir('bin')
        archive.file('bin/busybox', b'\x7fELF' * 3, 0o755)
        archive.chardev('dev/console', 5, 1)
        archive.file('init', b'#!/bin/sh\n', 0o755)
        self.assertEqual(
            [('bin', 0o040755, 0, 0, b''),
             ('bin/busybox', 0o100755, 0, 0, b'\x7fELF' * 3),
             ('dev/console', 0o020600, 5, 1, b''),
             ('init', 0o100755, 0, 0, b'#!/bin/sh\n')],
            read_newc(archive.finish()))


class InitTest(unittest.TestCase):

    def test_modules_load_in_dependency_order(self):
        order = realhv.MODULES
        self.assertLess(order.index('virtio'), order.index('virtio_pci'))
        self.assertLess(order.index('virtio_pci'),
                        order.index('virtio_balloon'))
        self.assertIn(' '.join(order), realhv.INIT)

    def test_runs_commands_typed_on_the_console(self):
        self.assertIn('while read -r tag id cmd; do', realhv.INIT)
        self.assertIn('done < /dev/console &', realhv.INIT)
        self.assertIn('echo "XLOUD-RUN-END $id rc=$?"', realhv.INIT)

    def test_status_line(self):
        self.assertIn('echo "XLOUD-GUEST $now"', realhv.INIT)
        self.assertIn('now="cpus=$cpus present=$present '
                      'memtotal_kib=$mem"', realhv.INIT)


class CanRunTest(unittest.TestCase):

    @mock.patch('os.geteuid', return_value=1000)
    def test_not_root(self, _geteuid):
        with self.assertRaisesRegex(realhv.Unavailable, 'not root'):
            realhv.can_run()

    @mock.patch('os.geteuid', return_value=0)
    @mock.patch('shutil.which', return_value=None)
    @mock.patch('os.path.exists', return_value=False)
    def test_missing_package(self, _exists, _which, _geteuid):
        with self.assertRaisesRegex(realhv.Unavailable,
                                    'libvirtd is not installed'):
            realhv.can_run()


class DaemonsTest(unittest.TestCase):

    def test_down_stops_only_what_up_started(self):
        with tempfile.TemporaryDirectory() as tmp:
            state = pathlib.Path(tmp, 'state.json')
            state.write_text(json.dumps(['libvirtd']))
            with mock.patch.object(realhv, '_running',
                                   side_effect=[4242, None]), \
                    mock.patch('os.kill',
                               side_effect=[None, OSError]) as kill:
                self.assertEqual(['libvirtd'], realhv.down(state))
            kill.assert_any_call(4242, 15)
            self.assertFalse(state.exists())

    @mock.patch.object(realhv, 'memlock_shim', return_value={})
    @mock.patch.object(realhv, 'MASK',
                       pathlib.Path(tempfile.gettempdir(), 'realhv', 'm'))
    @mock.patch.object(realhv, 'can_run')
    @mock.patch.object(realhv, 'socket_answers', return_value=True)
    @mock.patch.object(realhv, '_running', return_value=None)
    @mock.patch.object(realhv, '_start_without_kvm',
                       side_effect=OSError('unshare: not permitted'))
    @mock.patch('os.path.exists', return_value=True)
    @mock.patch('subprocess.run')
    def test_up_without_namespaces_starts_libvirtd_plainly(
            self, run, _exists, hide, *_mocks):
        with tempfile.TemporaryDirectory() as tmp:
            state = pathlib.Path(tmp, 'state.json')
            self.assertEqual(list(realhv.DAEMONS), realhv.up(state))
            self.assertEqual(sorted(realhv.DAEMONS),
                             json.loads(state.read_text()))
        hide.assert_called_once()
        self.assertEqual(['virtlogd', 'virtlockd', 'libvirtd'],
                         [pathlib.Path(c.args[0][0]).name
                          for c in run.call_args_list])

    def test_down_without_state_does_nothing(self):
        with mock.patch('os.kill') as kill:
            self.assertEqual([], realhv.down('/nonexistent/state.json'))
        kill.assert_not_called()


class MemlockShimTest(unittest.TestCase):

    def test_not_needed_with_cap_sys_resource(self):
        status = 'Name:\tx\nCapEff:\t000001ffffffffff\n'
        with mock.patch('builtins.open', mock.mock_open(read_data=status)):
            self.assertTrue(realhv.can_raise_limits())
            self.assertEqual({}, realhv.memlock_shim())

    def test_needed_without(self):
        status = 'CapEff:\t000001fffeffffff\n'
        with mock.patch('builtins.open', mock.mock_open(read_data=status)):
            self.assertFalse(realhv.can_raise_limits())

    @unittest.skipUnless(shutil.which('cc'), 'no C compiler')
    def test_two_libvirtds_starting_at_once_share_one_whole_shim(self):
        # the two libvirtds of a two-compute cloud: one built it while
        # the other was exec'd with it half written ("file too short")
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.object(realhv, 'MASK',
                                  pathlib.Path(tmp, 'no-kvm')), \
                mock.patch.object(realhv, 'can_raise_limits',
                                  return_value=False), \
                mock.patch.object(realhv.subprocess, 'run',
                                  wraps=subprocess.run) as run:
            found = []
            threads = [threading.Thread(
                target=lambda: found.append(realhv.memlock_shim()))
                for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(2 * [{'LD_PRELOAD': str(pathlib.Path(
                tmp, 'memlock.so'))}], found)
            self.assertEqual(1, run.call_count)  # built once
            self.assertEqual(b'\x7fELF', pathlib.Path(
                tmp, 'memlock.so').read_bytes()[:4])
            self.assertEqual(['memlock.c', 'memlock.so'],
                             sorted(os.listdir(tmp)))

    @unittest.skipUnless(shutil.which('cc'), 'no C compiler')
    def test_shim_keeps_the_locked_memory_limit(self):
        with tempfile.TemporaryDirectory() as tmp:
            source = pathlib.Path(tmp, 'shim.c')
            source.write_text(realhv.MEMLOCK_SHIM)
            shim = pathlib.Path(tmp, 'shim.so')
            subprocess.run(['cc', '-shared', '-fPIC', '-o', str(shim),
                            str(source), '-ldl'], check=True)
            # lower the limit (anyone may), then ask prlimit64 for more,
            # as libvirt does for QEMU: the shim keeps it, and succeeds
            probe = (
                'import ctypes, resource\n'
                'm = resource.RLIMIT_MEMLOCK\n'
                'resource.setrlimit(m, (4 << 20, 4 << 20))\n'
                'new = (ctypes.c_uint64 * 2)(1 << 30, 1 << 30)\n'
                'rc = ctypes.CDLL(None, use_errno=True).prlimit64(\n'
                '    0, m, new, None)\n'
                'print(rc, *resource.getrlimit(m))\n')
            out = subprocess.run(
                [sys.executable, '-c', probe], check=True, text=True,
                capture_output=True,
                env=dict(os.environ, LD_PRELOAD=str(shim))).stdout
        self.assertEqual(['0', str(4 << 20), str(4 << 20)], out.split())


if __name__ == '__main__':
    unittest.main()


class SbinPathTest(unittest.TestCase):
    """Daemons in /usr/sbin are found from a shell whose PATH lacks it."""

    def test_appends_only_what_is_missing(self):
        env = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/sbin'}
        realhv.add_sbin_to_path(env)
        self.assertEqual('/usr/local/bin:/usr/bin:/bin:/usr/sbin:'
                         '/usr/local/sbin:/sbin', env['PATH'])
        realhv.add_sbin_to_path(env)
        self.assertEqual('/usr/local/bin:/usr/bin:/bin:/usr/sbin:'
                         '/usr/local/sbin:/sbin', env['PATH'])

    def test_no_path_at_all(self):
        env = {}
        realhv.add_sbin_to_path(env)
        self.assertEqual('/usr/local/sbin:/usr/sbin:/sbin', env['PATH'])
