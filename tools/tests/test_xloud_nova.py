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

"""Tests of xloud-nova's refusals and recovery on a fake site-packages.

The real installs of every release are the "inplace" stage of make check
(tools/inplace.py check).
"""

import ast
import base64
import glob
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock
import zlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import inplace  # noqa: E402
import xloud_nova  # noqa: E402

UPSTREAM = b'import os\n\n\ndef f():\n    return 1\n\n\ndef g():\n    pass\n'
PATCHED = (b'import os\n\nfrom nova.xloud import b\n\n\ndef f():\n'
           b'    return b.one()\n\n\ndef g():\n    pass\n')
CONFIG = b'a = 1\n'
CONFIG_PATCHED = b'a = 1\nb = 2\n'
NEW = {'nova/xloud/__init__.py': b'',
       'nova/xloud/b.py': b'def one():\n    return 1\n'}
ENTRY_POINTS = ('[console_scripts]\nnova-api = nova.cmd.api:main\n\n'
                '[nova.api.extra_spec_validators]\n'
                'hw = nova.api.validation.extra_specs.hw\n'
                'os = nova.api.validation.extra_specs.os\n\n'
                '[oslo.config.opts]\nnova.conf = nova.conf.opts:list_opts\n')
OURS = {'nova.api.extra_spec_validators': {
    'minimum': 'nova.api.validation.extra_specs.minimum'}}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def changed(path, old, new):
    return {'path': path, 'upstream': sha(old), 'patched': sha(new),
            'forward': inplace.line_edits(old, new),
            'reverse': inplace.line_edits(new, old)}


def payload():
    files = [changed('nova/a.py', UPSTREAM, PATCHED),
             changed('nova/conf/c.py', CONFIG, CONFIG_PATCHED)]
    blobs = {}
    for path, data in NEW.items():
        blobs[sha(data)] = base64.b64encode(zlib.compress(data)).decode()
        files.append({'path': path, 'upstream': None, 'patched': sha(data)})
    release = {'series': 'test', 'files': files, 'entry_points': OURS,
               'new_dirs': ['nova/xloud']}
    return {'format': 1, 'xloud': 7, 'blobs': blobs,
            'releases': {'34.0.0': release, '31.3.1': dict(release)}}


def snapshot(site):
    out = {}
    for dirpath, dirnames, filenames in os.walk(site):
        for n in filenames:
            p = os.path.join(dirpath, n)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, site)] = f.read()
        for n in dirnames:
            out[os.path.relpath(os.path.join(dirpath, n), site) + '/'] = b''
    return out


class Crash(BaseException):
    """A process killed part-way (nothing catches it)."""


class FakeSiteTest(unittest.TestCase):

    version = '34.0.0'

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.site = pathlib.Path(tmp.name) / 'site-packages'
        (self.site / 'nova' / 'conf').mkdir(parents=True)
        (self.site / 'nova' / '__init__.py').write_bytes(b'')
        (self.site / 'nova' / 'a.py').write_bytes(UPSTREAM)
        (self.site / 'nova' / 'conf' / 'c.py').write_bytes(CONFIG)
        info = self.site / f'nova-{self.version}.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(
            f'Metadata-Version: 2.1\nName: nova\nVersion: {self.version}\n')
        (info / 'entry_points.txt').write_text(ENTRY_POINTS)
        self.fresh = snapshot(self.site)
        patcher = mock.patch.object(xloud_nova, 'PAYLOAD', payload())
        patcher.start()
        self.addCleanup(patcher.stop)

    def run_cmd(self, *args, target=None):
        lines = []
        with mock.patch('sys.stderr') as err:
            rc = xloud_nova.main(
                list(args) + ['--target', str(target or self.site)],
                out=lines.append)
        errors = ''.join(c.args[0] for c in err.write.call_args_list)
        return rc, '\n'.join(lines), errors

    def assert_status(self, word):
        rc, out, err = self.run_cmd('status')
        self.assertTrue(out.startswith(word), out + err)
        return rc, out

    def applied(self):
        self.assertEqual(0, self.run_cmd('apply')[0])
        return {k: v for k, v in snapshot(self.site).items()
                if not k.startswith('.xloud-nova/')}


class ApplyTest(FakeSiteTest):

    def test_apply_status_revert(self):
        self.assert_status('upstream:')
        rc, out, _ = self.run_cmd('apply')
        self.assertEqual(0, rc)
        self.assertIn('restart these services', out)
        self.assertIn('nova-compute', out)
        self.assertEqual(PATCHED, (self.site / 'nova/a.py').read_bytes())
        self.assertEqual(NEW['nova/xloud/b.py'],
                         (self.site / 'nova/xloud/b.py').read_bytes())
        eps = (self.site / 'nova-34.0.0.dist-info' /
               'entry_points.txt').read_text()
        self.assertIn('os = nova.api.validation.extra_specs.os\n'
                      'minimum = nova.api.validation.extra_specs.minimum\n',
                      eps)
        self.assertEqual(UPSTREAM, (self.site / '.xloud-nova/backup/nova/'
                                    'a.py').read_bytes())
        manifest = xloud_nova.json.loads(
            (self.site / '.xloud-nova/manifest.json').read_text())
        self.assertEqual('34.0.0', manifest['version'])
        self.assertEqual(7, manifest['xloud'])
        self.assertEqual(sha(PATCHED), manifest['files'][0]['patched'])
        rc, out = self.assert_status('patched with xloud 7')
        self.assertEqual(0, rc)
        # bytecode Python wrote for our files goes with them
        pycache = self.site / 'nova/__pycache__'
        pycache.mkdir()
        (pycache / 'a.cpython-311.pyc').write_bytes(b'upstream a')
        (self.site / 'nova/xloud/__pycache__').mkdir()
        (self.site / 'nova/xloud/__pycache__/b.cpython-311.pyc'
         ).write_bytes(b'ours')
        self.assertEqual(0, self.run_cmd('revert')[0])
        (pycache / 'a.cpython-311.pyc').unlink()
        pycache.rmdir()
        self.assertEqual(self.fresh, snapshot(self.site))
        self.assert_status('upstream:')

    def test_modes_kept(self):
        def mode(name):
            return (self.site / name).stat().st_mode & 0o777

        (self.site / 'nova/a.py').chmod(0o640)
        (self.site / 'nova/__init__.py').chmod(0o604)
        self.applied()
        self.assertEqual(0o640, mode('nova/a.py'))
        self.assertEqual(0o604, mode('nova/xloud/b.py'))
        self.assertEqual(0o755, mode('nova/xloud'))
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertEqual(0o640, mode('nova/a.py'))

    def test_dry_run_changes_nothing(self):
        rc, out, _ = self.run_cmd('apply', '--dry-run')
        self.assertEqual(0, rc)
        self.assertIn('would patch nova/a.py', out)
        self.assertIn('would add nova/xloud/b.py', out)
        self.assertEqual(self.fresh, snapshot(self.site))
        patched = self.applied()
        before = snapshot(self.site)
        rc, out, _ = self.run_cmd('revert', '--dry-run')
        self.assertEqual(0, rc)
        self.assertIn('would restore from backup nova/a.py', out)
        self.assertIn('would remove nova/xloud/b.py', out)
        self.assertEqual(before, snapshot(self.site))
        self.assertTrue(patched)

    def test_unsupported_version(self):
        info = self.site / 'nova-34.0.0.dist-info'
        (info / 'METADATA').write_text('Name: nova\nVersion: 32.0.0\n')
        fresh = snapshot(self.site)
        for command in ('apply', 'status', 'revert'):
            rc, out, err = self.run_cmd(command)
            self.assertEqual(2, rc)
            self.assertIn('nova 32.0.0 is not supported', err)
            self.assertIn('supports nova 34.0.0, 31.3.1', err)
        self.assertEqual(fresh, snapshot(self.site))

    def test_our_own_package(self):
        (self.site / 'nova-34.0.0.dist-info' / 'METADATA').write_text(
            'Name: nova\nVersion: 34.0.0+xloud.7\n')
        rc, _, err = self.run_cmd('apply')
        self.assertEqual(2, rc)
        self.assertIn("XLoud Nova's own package", err)

    def test_not_a_site_packages(self):
        rc, _, err = self.run_cmd('apply', target=self.site / 'nova')
        self.assertEqual(2, rc)
        self.assertIn('holds no nova package', err)

    def test_no_metadata(self):
        for p in (self.site / 'nova-34.0.0.dist-info').iterdir():
            p.unlink()
        (self.site / 'nova-34.0.0.dist-info').rmdir()
        rc, _, err = self.run_cmd('apply')
        self.assertEqual(2, rc)
        self.assertIn('no nova-*.dist-info', err)

    def test_egg_info(self):
        """Distribution packages install nova-<version>-pyX.Y.egg-info."""
        info = self.site / 'nova-34.0.0.dist-info'
        egg = self.site / 'nova-34.0.0-py3.11.egg-info'
        info.rename(egg)
        (egg / 'METADATA').rename(egg / 'PKG-INFO')
        self.applied()
        self.assertIn('minimum = ', (egg / 'entry_points.txt').read_text())
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertEqual(ENTRY_POINTS, (egg / 'entry_points.txt').read_text())

    def test_locally_modified_file(self):
        (self.site / 'nova/conf/c.py').write_bytes(b'a = 2\n')
        fresh = snapshot(self.site)
        rc, _, err = self.run_cmd('apply')
        self.assertEqual(2, rc)
        self.assertIn('will not apply', err)
        self.assertIn('nova/conf/c.py: modified', err)
        self.assertNotIn('nova/a.py', err)
        self.assertIn('nothing was changed', err)
        self.assertEqual(fresh, snapshot(self.site))
        rc, out, _ = self.run_cmd('status')
        self.assertEqual(1, rc)
        self.assertTrue(out.startswith('drifted:'))
        self.assertIn('nova/conf/c.py (drifted)', out)
        self.assertNotIn('nova/a.py', out)

    def test_locally_modified_file_after_apply(self):
        self.applied()
        (self.site / 'nova/a.py').write_bytes(PATCHED + b'# local\n')
        before = snapshot(self.site)
        rc, _, err = self.run_cmd('revert')
        self.assertEqual(2, rc)
        self.assertIn('nova/a.py: modified', err)
        self.assertEqual(before, snapshot(self.site))
        rc, _, err = self.run_cmd('apply')
        self.assertEqual(2, rc)
        self.assertEqual(before, snapshot(self.site))

    def test_applied_by_another_xloud_release(self):
        """A new release of the queue asks to revert the old one first."""
        self.applied()
        manifest = self.site / '.xloud-nova/manifest.json'
        data = xloud_nova.json.loads(manifest.read_text())
        data['xloud'] = 6
        manifest.write_text(xloud_nova.json.dumps(data))
        (self.site / 'nova/a.py').write_bytes(PATCHED + b'# xloud 6\n')
        rc, _, err = self.run_cmd('apply')
        self.assertEqual(2, rc)
        self.assertIn('nova/a.py: modified', err)
        self.assertIn('xloud 6 was applied here', err)

    def test_missing_upstream_file(self):
        (self.site / 'nova/conf/c.py').unlink()
        rc, _, err = self.run_cmd('apply')
        self.assertEqual(2, rc)
        self.assertIn('nova/conf/c.py: missing', err)

    def test_second_apply_is_harmless(self):
        patched = self.applied()
        state = snapshot(self.site)
        rc, out, _ = self.run_cmd('apply')
        self.assertEqual(0, rc)
        self.assertIn('nothing to do', out)
        self.assertEqual(state, snapshot(self.site))
        self.assertTrue(patched)

    def test_revert_without_backup(self):
        """The reverse edits give upstream back where no backup is."""
        self.applied()
        manifest = self.site / '.xloud-nova'
        for dirpath, dirnames, filenames in os.walk(manifest,
                                                    topdown=False):
            for n in filenames:
                os.unlink(os.path.join(dirpath, n))
            os.rmdir(dirpath)
        rc, out, _ = self.run_cmd('revert', '--dry-run')
        self.assertIn('would restore by the reverse edits nova/a.py', out)
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertEqual(self.fresh, snapshot(self.site))

    def test_revert_ignores_a_bad_backup(self):
        self.applied()
        (self.site / '.xloud-nova/backup/nova/a.py').write_bytes(b'junk\n')
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertEqual(self.fresh, snapshot(self.site))

    def test_entry_points_group_added_and_removed(self):
        info = self.site / 'nova-34.0.0.dist-info' / 'entry_points.txt'
        info.write_text('[console_scripts]\nnova-api = nova.cmd.api:main\n')
        fresh = snapshot(self.site)
        self.applied()
        self.assertIn('[nova.api.extra_spec_validators]\nminimum = ',
                      info.read_text())
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertEqual(fresh, snapshot(self.site))


class InterruptedTest(FakeSiteTest):
    """A crash at each write of apply; then apply or revert again."""

    def crash_at(self, n, leave_temp=False):
        real = xloud_nova.atomic_write
        calls = []

        def write(path, data, like=None, mtime=None):
            calls.append(path)
            if len(calls) == n:
                if leave_temp:
                    tmp = os.path.join(os.path.dirname(path),
                                       xloud_nova.TMP_PREFIX + 'crash')
                    with open(tmp, 'wb') as f:
                        f.write(data[:3])
                raise Crash()
            return real(path, data, like, mtime)

        with mock.patch.object(xloud_nova, 'atomic_write', write):
            try:
                self.run_cmd('apply')
            except Crash:
                return True
        return False

    def writes(self):
        real = xloud_nova.atomic_write
        with mock.patch.object(xloud_nova, 'atomic_write',
                               side_effect=real) as w:
            self.run_cmd('apply')
        return w.call_count

    def reset(self):
        for dirpath, dirnames, filenames in os.walk(self.site,
                                                    topdown=False):
            for n in filenames:
                os.unlink(os.path.join(dirpath, n))
            for n in dirnames:
                os.rmdir(os.path.join(dirpath, n))
        for name, data in self.fresh.items():
            path = self.site / name
            if name.endswith('/'):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)

    def test_crash_then_apply_or_revert(self):
        patched = self.applied()
        self.assertEqual(0, self.run_cmd('revert')[0])
        total = self.writes()
        self.assertGreater(total, 5)
        for n in range(1, total + 1):
            for leave_temp in (False, True):
                for then in ('apply', 'revert'):
                    with self.subTest(crash_at=n, temp=leave_temp,
                                      then=then):
                        self.reset()
                        self.assertTrue(self.crash_at(n, leave_temp))
                        rc, out = self.assert_status(
                            'partial' if n > 1 else 'upstream')
                        if n > 1:
                            self.assertIn('interrupted "apply"', out)
                        rc, out, err = self.run_cmd(then)
                        self.assertEqual(0, rc, out + err)
                        now = snapshot(self.site)
                        if then == 'apply':
                            self.assert_status('patched with xloud 7')
                            self.assertEqual(patched, {
                                k: v for k, v in now.items()
                                if not k.startswith('.xloud-nova/')})
                            self.assertEqual(0, self.run_cmd('revert')[0])
                        self.assertEqual(self.fresh, snapshot(self.site))


class OrderLockLinkTest(FakeSiteTest):
    """New modules before what imports them; one run at a time; links."""

    def steps(self, command):
        """The files ``command`` changes, in order: (what, path)."""
        real_write, real_unlink = xloud_nova.atomic_write, os.unlink
        steps = []

        def write(path, data, like=None, mtime=None):
            steps.append(('write', os.path.relpath(path, self.site)))
            return real_write(path, data, like, mtime)

        def unlink(path, *args, **kwargs):
            if os.path.basename(path).endswith('.py'):
                steps.append(('remove', os.path.relpath(path, self.site)))
            return real_unlink(path, *args, **kwargs)
        with mock.patch.object(xloud_nova, 'atomic_write', write), \
                mock.patch.object(xloud_nova.os, 'unlink', unlink):
            self.assertEqual(0, self.run_cmd(command)[0])
        return [(what, path) for what, path in steps
                if path.startswith('nova/')]

    def test_new_modules_first(self):
        new = set(NEW)
        steps = self.steps('apply')
        first = [path in new for _what, path in steps]
        # every new module is written before any upstream file changes
        self.assertEqual(sorted(first, reverse=True), first)
        self.assertEqual(new, {p for p, is_new in zip(
            [p for _w, p in steps], first) if is_new})
        steps = self.steps('revert')
        last = [path in new for _what, path in steps]
        # and removed only once every upstream file is upstream's again
        self.assertEqual(sorted(last), last)
        self.assertEqual({('remove', p) for p in new},
                         {s for s, is_new in zip(steps, last) if is_new})

    def test_one_run_at_a_time(self):
        self.applied()
        before = snapshot(self.site)
        fd = os.open(self.site, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        xloud_nova.fcntl.flock(fd, xloud_nova.fcntl.LOCK_EX)
        for command in ('revert', 'apply'):
            rc, _out, err = self.run_cmd(command)
            self.assertEqual(2, rc)
            self.assertIn(f'will not {command}: another xloud-nova apply or '
                          f'revert is running', err)
            self.assertEqual(before, snapshot(self.site))
        # status reads, and is not held back
        self.assert_status('patched with xloud 7')
        xloud_nova.fcntl.flock(fd, xloud_nova.fcntl.LOCK_UN)
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertEqual(self.fresh, snapshot(self.site))

    def test_symlinks_stay_symlinks(self):
        # a deployment that links a module from elsewhere
        elsewhere = self.site.parent / 'elsewhere'
        elsewhere.mkdir()
        real = elsewhere / 'a.py'
        link = self.site / 'nova' / 'a.py'
        shutil.move(str(link), str(real))
        link.symlink_to(real)
        fresh = snapshot(self.site)
        self.applied()
        self.assertTrue(link.is_symlink())
        self.assertEqual(PATCHED, real.read_bytes())
        self.assertEqual([], glob.glob(str(elsewhere / '.xloud-tmp-*')))
        self.assert_status('patched with xloud 7')
        self.assertEqual(0, self.run_cmd('revert')[0])
        self.assertTrue(link.is_symlink())
        self.assertEqual(str(real), os.readlink(link))
        self.assertEqual(UPSTREAM, real.read_bytes())
        self.assertEqual(fresh, snapshot(self.site))


class InterruptedRevertTest(InterruptedTest):
    """A kill at each step of revert; then revert or apply again."""

    def crash_revert_at(self, n):
        real_write, real_unlink = xloud_nova.atomic_write, os.unlink
        calls = []

        def step():
            calls.append(1)
            if len(calls) == n:
                raise Crash()

        def write(path, data, like=None, mtime=None):
            step()
            return real_write(path, data, like, mtime)

        def unlink(path, *args, **kwargs):
            if str(path).startswith(str(self.site / 'nova')):
                step()
            return real_unlink(path, *args, **kwargs)
        with mock.patch.object(xloud_nova, 'atomic_write', write), \
                mock.patch.object(xloud_nova.os, 'unlink', unlink):
            try:
                self.run_cmd('revert')
            except Crash:
                return True
        return False

    def test_crash_then_apply_or_revert(self):
        patched = self.applied()
        n = 1
        while True:
            for then in ('revert', 'apply'):
                with self.subTest(crash_at=n, then=then):
                    self.reset()
                    self.applied()
                    crashed = self.crash_revert_at(n)
                    if not crashed:
                        self.assertEqual(self.fresh, snapshot(self.site))
                        break
                    if n == 1:  # killed before its journal was written
                        self.assert_status('patched with xloud 7')
                    else:
                        rc, out = self.assert_status('partial')
                        self.assertIn('interrupted "revert"', out)
                    rc, out, err = self.run_cmd(then)
                    self.assertEqual(0, rc, out + err)
                    if then == 'apply':
                        self.assert_status('patched with xloud 7')
                        self.assertEqual(patched, {
                            k: v for k, v in snapshot(self.site).items()
                            if not k.startswith('.xloud-nova/')})
                        self.assertEqual(0, self.run_cmd('revert')[0])
                    self.assertEqual(self.fresh, snapshot(self.site))
            else:
                n += 1
                continue
            break
        self.assertGreater(n, 4)  # it crashed at every step before the end


class EntryPointsTest(unittest.TestCase):

    def test_round_trip(self):
        text = xloud_nova.add_entry_points(ENTRY_POINTS, OURS)
        self.assertEqual('patched', xloud_nova.entry_state(text, OURS))
        self.assertEqual(text, xloud_nova.add_entry_points(text, OURS))
        self.assertEqual(ENTRY_POINTS,
                         xloud_nova.remove_entry_points(text, OURS))
        self.assertEqual('upstream',
                         xloud_nova.entry_state(ENTRY_POINTS, OURS))

    def test_from_packaging(self):
        before = ('[project.entry-points."nova.api.extra_spec_validators"]\n'
                  'hw = "nova.api.validation.extra_specs.hw"\n')
        after = before + (
            'minimum = "nova.api.validation.extra_specs.minimum"\n')
        self.assertEqual(OURS, inplace.added_entry_points(
            inplace.entry_points('pyproject.toml', before),
            inplace.entry_points('pyproject.toml', after)))
        cfg = ('[entry_points]\nnova.api.extra_spec_validators =\n'
               '\thw = nova.api.validation.extra_specs.hw\n')
        cfg_after = cfg + (
            '\tminimum = nova.api.validation.extra_specs.minimum\n')
        self.assertEqual(OURS, inplace.added_entry_points(
            inplace.entry_points('setup.cfg', cfg),
            inplace.entry_points('setup.cfg', cfg_after)))


class SingleFileTest(unittest.TestCase):

    def test_edits_both_ways(self):
        for old, new in ((UPSTREAM, PATCHED), (b'', b'x\n'),
                         (b'a\r\nb', b'a\r\nc\xff\n')):
            self.assertEqual(new, xloud_nova.edit(
                old, inplace.line_edits(old, new)))
            self.assertEqual(old, xloud_nova.edit(
                new, inplace.line_edits(new, old)))

    def test_python_39(self):
        """The command parses as Python 3.9, the oldest it runs on."""
        ast.parse(inplace.TEMPLATE.read_text(), feature_version=(3, 9))

    def assert_rendered_file_runs(self, python):
        """The built file, alone (-I), lists its releases under python."""
        with tempfile.TemporaryDirectory() as tmp:
            script = pathlib.Path(tmp) / 'xloud-nova'
            script.write_text(inplace.render(payload()))
            proc = subprocess.run([python, '-I', str(script), 'releases'],
                                  capture_output=True, text=True, cwd=tmp)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual('nova 34.0.0: xloud 7 (test)\n'
                         'nova 31.3.1: xloud 7 (test)\n', proc.stdout)

    def test_rendered_file_runs_alone(self):
        self.assert_rendered_file_runs(sys.executable)

    def test_rendered_file_runs_on_python_39(self):
        """Python 3.9 (2025.1's oldest) really runs it, where there is one."""
        candidates = sorted(glob.glob(os.path.expanduser(
            '~/.pyenv/versions/3.9*/bin/python3.9'))) + [
                shutil.which('python3.9')]
        python = next((c for c in candidates if c and subprocess.run(
            [c, '-c', 'import sys; assert sys.version_info[:2] == (3, 9)'],
            capture_output=True).returncode == 0), None)
        if not python:
            self.skipTest('no python3.9 here (on PATH or under pyenv); '
                          'the syntax check above still holds')
        self.assert_rendered_file_runs(python)

    def test_source_without_payload(self):
        with mock.patch('sys.stderr'):
            self.assertEqual(2, xloud_nova.main(['releases']))


class EntryPointsCacheTest(FakeSiteTest):
    """stevedore's cache keys entry_points.txt by its float32 mtime."""

    def f32_mtime(self):
        path = self.site / f'nova-{self.version}.dist-info/entry_points.txt'
        return xloud_nova.float32(path.stat().st_mtime)

    def test_every_rewrite_gets_a_later_step(self):
        now = time.time()
        path = self.site / f'nova-{self.version}.dist-info/entry_points.txt'
        os.utime(path, (now, now))
        steps = [self.f32_mtime()]
        for command in ('apply', 'revert', 'apply', 'revert'):
            self.assertEqual(0, self.run_cmd(command)[0])
            steps.append(self.f32_mtime())
        self.assertEqual(steps, sorted(set(steps)))
        # at most one step (128 s today) ahead of the clock
        self.assertLess(steps[-1], time.time() + 4 * 256)
        self.assertEqual(self.fresh, snapshot(self.site))

    def test_an_old_file_gets_now(self):
        path = self.site / f'nova-{self.version}.dist-info/entry_points.txt'
        os.utime(path, (1e9, 1e9))
        before = time.time()
        mtime = xloud_nova.later_mtime(str(path))
        self.assertGreaterEqual(mtime, before)
        self.assertLessEqual(mtime, time.time())


class TreeStateTest(unittest.TestCase):
    """What the kolla check compares: content, mode and owner of all."""

    def setUp(self):
        self.root = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)
        (self.root / 'lib' / 'pkg' / '__pycache__').mkdir(parents=True)
        (self.root / 'lib' / 'pkg' / 'm.py').write_bytes(UPSTREAM)
        (self.root / 'lib64').symlink_to('lib')
        self.before = inplace.tree_state(self.root)

    def test_every_kind_listed_bytecode_left_out(self):
        self.assertEqual({'lib', 'lib64', 'lib/pkg', 'lib/pkg/m.py'},
                         set(self.before))
        self.assertEqual('-> lib', self.before['lib64'][0])
        self.assertEqual('directory', self.before['lib/pkg'][0])
        (self.root / 'lib' / 'pkg' / '__pycache__' / 'm.pyc').write_bytes(
            b'x')
        self.assertEqual(self.before, inplace.tree_state(self.root))

    def test_content_mode_and_owner_count(self):
        path = self.root / 'lib' / 'pkg' / 'm.py'
        path.write_bytes(PATCHED)
        self.assertNotEqual(self.before, inplace.tree_state(self.root))
        path.write_bytes(UPSTREAM)
        self.assertEqual(self.before, inplace.tree_state(self.root))
        mode = path.stat().st_mode & 0o7777
        path.chmod(mode ^ 0o100)
        self.assertNotEqual(self.before, inplace.tree_state(self.root))
        path.chmod(mode)
        self.assertEqual(self.before, inplace.tree_state(self.root))
        if os.geteuid() == 0:
            os.chown(path, 1, 1)
            self.assertEqual((1, 1), inplace.tree_state(self.root)[
                'lib/pkg/m.py'][2:])
