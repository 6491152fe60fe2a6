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

"""Tests for tools/patchq.py against a small fake upstream sdist."""

import contextlib
import hashlib
import io
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import unittest
from unittest import mock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import patchq  # noqa: E402
import patchq_common  # noqa: E402
import patchq_port  # noqa: E402

UPSTREAM = {
    'pyproject.toml': '[entry-points]\n' + ''.join(
        f'ep{i} = "mod{i}"\n' for i in range(10)),
    'nova/__init__.py': '',
    'nova/big.py': ''.join(
        f'def function_{i}(arg):\n    return arg * {i}\n\n\n'
        for i in range(20)),
    'nova/tests/unit/test_big.py': 'import unittest\n',
    'README.rst': 'upstream readme\nline 2\nline 3\nline 4\n',
    'nova.egg-info/entry_points.txt': '[stale]\n',
}


def make_sdist(directory, name='nova', version='1.0.0', files=UPSTREAM):
    path = pathlib.Path(directory) / f'{name}-{version}.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f'{name}-{version}/{rel}')
            info.size = len(data)
            info.uid = 1234  # as in real sdists: not the current user
            tar.addfile(info, io.BytesIO(data))
    return path


def run(*cmd, cwd):
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


class QueueTestCase(unittest.TestCase):

    def setUp(self):
        # "make" exports NOVA, the release it works on; these tests pick
        # their own fake releases
        environ = mock.patch.dict(os.environ)
        environ.start()
        self.addCleanup(environ.stop)
        os.environ.pop('NOVA', None)
        tmp = tempfile.TemporaryDirectory(prefix='patchq-test-')
        self.addCleanup(tmp.cleanup)
        self.tmp = pathlib.Path(tmp.name)
        self.root = self.tmp / 'repo'
        self.root.mkdir()
        cache = self.root / '.cache' / 'upstream'
        cache.mkdir(parents=True)
        sdist = make_sdist(cache)
        self.sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
        self.pins = {'1.0.0': self.sha}
        self.write_pins()
        self.write('.gitignore', '/build/\n/.cache/\n/dist/\n')
        self.write('nova/xloud.py', 'VALUE = 1\n')
        run('git', 'init', '-q', cwd=self.root)
        self.queue = patchq.Queue(self.root)
        self.tree = self.root / 'build' / 'tree'

    def write_pins(self, default='1.0.0', budget=150):
        releases = ''.join(f'[releases."{v}"]\nsha256 = "{sha}"\n'
                           for v, sha in self.pins.items())
        (self.root / 'upstream.toml').write_text(
            f'[upstream]\nname = "nova"\ndefault = "{default}"\n'
            f'[xloud]\nrelease = 7\n[seams]\nbudget = {budget}\n' +
            releases)

    def add_release(self, version, files):
        sdist = make_sdist(self.root / '.cache' / 'upstream',
                           version=version, files=files)
        self.pins[version] = hashlib.sha256(sdist.read_bytes()).hexdigest()
        self.write_pins()
        return patchq.Queue(self.root, pin=patchq.load_pin(self.root,
                                                           version))

    def write(self, rel, text):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def add_patch(self, new_line='ep_new = "new"\n', after='ep4 = "mod4"\n'):
        """Make a real patch through the tree and refresh."""
        self.queue.materialize(self.tree, force=True)
        pyproject = self.tree / 'pyproject.toml'
        pyproject.write_text(
            pyproject.read_text().replace(after, after + new_line))
        written, removed, warnings = self.queue.refresh(self.tree)
        patch = self.root / 'patches' / 'pyproject.toml.patch'
        self.assertEqual([patch], written)
        patch.write_text(patch.read_text().replace(
            patchq.HEADER_PLACEHOLDER, '# Register the new entry point.'))
        self.write('upstream-tests.txt',
                   'pyproject.toml: nova.tests.unit.test_big\n')
        return patch

    def main(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = patchq.main(['--root', str(self.root)] + list(argv))
        return rc, out.getvalue(), err.getvalue()


class TestPin(QueueTestCase):

    def test_local_version(self):
        self.assertEqual('1.0.0+xloud.7', self.queue.pin.local_version)
        self.assertEqual((0, '1.0.0+xloud.7\n', ''), self.main('version'))

    def test_fetch_verifies_hash(self):
        self.assertEqual(self.root / '.cache/upstream/nova-1.0.0.tar.gz',
                         self.queue.fetch())

    def test_fetch_hash_mismatch_names_both(self):
        self.pins['1.0.0'] = '00ff'
        self.write_pins()
        rc, out, err = self.main('fetch')
        self.assertEqual(1, rc)
        self.assertIn('sha256 mismatch', err)
        self.assertIn('00ff', err)
        self.assertIn(self.sha, err)

    def test_extract_owned_by_us(self):
        top = self.queue.upstream_dir()
        self.assertEqual((top / 'nova/big.py').stat().st_uid,
                         pathlib.Path(self.tmp).stat().st_uid)


class TestTree(QueueTestCase):

    def test_materialize(self):
        patch = self.add_patch()
        rc, out, err = self.main('tree', '--force')
        self.assertEqual(0, rc, err)
        self.assertIn('1 new files + 1 patches', out)
        self.assertIn('ep_new = "new"',
                      (self.tree / 'pyproject.toml').read_text())
        self.assertEqual('VALUE = 1\n',
                         (self.tree / 'nova/xloud.py').read_text())
        log = patchq.git('log', '--format=%s', cwd=self.tree).splitlines()
        self.assertEqual(['xloud 1.0.0+xloud.7: overlay and patches',
                          'upstream nova 1.0.0'], log)
        tags = patchq.git('tag', cwd=self.tree).split()
        self.assertEqual(['upstream', 'xloud'], tags)
        # the upstream commit is pristine
        self.assertNotIn('ep_new', patchq.git(
            'show', 'upstream:pyproject.toml', cwd=self.tree))
        self.assertTrue(patch.read_text().startswith('# Register'))

    def test_generated_files_ignored(self):
        self.queue.materialize(self.tree)
        # upstream's sdist metadata would shadow our entry points
        self.assertFalse((self.tree / 'nova.egg-info').exists())
        for name in ('.stestr/0', 'nova.egg-info/PKG-INFO',
                     'nova/__pycache__/x.pyc'):
            (self.tree / name).parent.mkdir(parents=True, exist_ok=True)
            (self.tree / name).write_text('generated')
        self.assertEqual(([], [], []), self.queue.refresh(self.tree))
        self.assertEqual(0, self.main('tree')[0])

    def test_builds_plugin_with_the_same_version(self):
        self.write('xloud-osc/setup.cfg', '[metadata]\nname = xloud-osc\n')
        outdir = self.root / 'dist'
        outdir.mkdir()
        (outdir / 'xloud_osc-0.9-py3-none-any.whl').touch()  # stale

        def fake_build(cmd, env, **kwargs):
            self.assertEqual('1.0.0+xloud.7', env['PBR_VERSION'])
            self.assertEqual('1', env['SKIP_GIT_SDIST'])
            self.assertEqual(str(self.root / 'xloud-osc'), cmd[-1])
            for name in ('xloud_osc-1.0.0+xloud.7-py3-none-any.whl',
                         'xloud_osc-1.0.0+xloud.7.tar.gz'):
                (outdir / name).touch()
            return subprocess.CompletedProcess(cmd, 0, '', '')

        with mock.patch.object(subprocess, 'run',
                               side_effect=fake_build):
            built = self.queue.dist_plugin('xloud-osc', outdir)
        self.assertEqual(['xloud_osc-1.0.0+xloud.7-py3-none-any.whl',
                          'xloud_osc-1.0.0+xloud.7.tar.gz'],
                         [p.name for p in built])
        self.assertEqual(sorted(p.name for p in built),
                         sorted(p.name for p in outdir.iterdir()))

    def test_plugin_build_failure_is_reported(self):
        def failing(cmd, env, **kwargs):
            return subprocess.CompletedProcess(cmd, 1, '', 'no pbr\n')

        with mock.patch.object(subprocess, 'run', side_effect=failing):
            with self.assertRaisesRegex(patchq.QueueError,
                                        'building xloud-osc failed'):
                self.queue.dist_plugin('xloud-osc', self.root / 'dist')

    def test_refuses_dirty_tree(self):
        self.queue.materialize(self.tree)
        (self.tree / 'README.rst').write_text('edited\n')
        rc, out, err = self.main('tree')
        self.assertEqual(1, rc)
        self.assertIn('has edits that patches/ and the overlay do not hold',
                      err)
        self.assertEqual('edited\n', (self.tree / 'README.rst').read_text())
        # once refreshed, the edit is safe in patches/ and the tree can go
        self.queue.refresh(self.tree)
        self.assertEqual(0, self.main('tree')[0])
        self.assertEqual('edited\n', (self.tree / 'README.rst').read_text())

    def test_tree_older_than_repository_holds_no_edits(self):
        patch = self.add_patch()
        self.queue.materialize(self.tree)
        # the repository moves on: a new file, and the patch is dropped
        self.write('nova/newer.py', 'NEWER = 1\n')
        patch.unlink()
        self.assertEqual([], self.queue.unexported(self.tree))
        self.queue.materialize(self.tree)
        self.assertTrue((self.tree / 'nova/newer.py').exists())
        self.assertNotIn('ep_new', (self.tree / 'pyproject.toml').read_text())

    def test_patch_does_not_apply_names_patch_file_and_hunk(self):
        patch = self.add_patch()
        # upstream moved on: the context of the hunk is gone
        patch.write_text(patch.read_text().replace(
            ' ep3 = "mod3"', ' ep3 = "moved"'))
        rc, out, err = self.main('tree', '--force')
        self.assertEqual(1, rc)
        self.assertIn('patches/pyproject.toml.patch: pyproject.toml: '
                      'hunk #1 (@@ -', err)
        self.assertIn('does not apply', err)
        self.assertFalse((self.tree / 'pyproject.toml.rej').exists())
        # and check says the same
        rc, out, err = self.main('check')
        self.assertEqual(1, rc)
        self.assertIn('patches/pyproject.toml.patch: pyproject.toml: '
                      'hunk #1', err)

    def test_keep_going_leaves_rejects(self):
        patch = self.add_patch()
        patch.write_text(patch.read_text().replace(
            ' ep3 = "mod3"', ' ep3 = "moved"'))
        rc, out, err = self.main('tree', '--force', '--keep-going')
        self.assertEqual(1, rc)
        self.assertIn('*.rej', err)
        self.assertTrue((self.tree / 'pyproject.toml.rej').exists())

    def test_overlay_collision_names_file(self):
        self.write('nova/big.py', 'x = 1\n')
        rc, out, err = self.main('tree')
        self.assertEqual(1, rc)
        self.assertIn('nova/big.py: overlay file collides', err)
        rc, out, err = self.main('check')
        self.assertEqual(1, rc)
        self.assertIn('nova/big.py: overlay file collides', err)

    def test_our_top_level_files_never_overlay(self):
        # README.rst exists upstream; ours stays ours
        self.write('README.rst', 'ours\n')
        self.queue.materialize(self.tree)
        self.assertEqual('upstream readme\nline 2\nline 3\nline 4\n',
                         (self.tree / 'README.rst').read_text())
        self.assertEqual([], self.queue.check())

    def test_patch_must_touch_its_own_file(self):
        self.add_patch()
        (self.root / 'patches/pyproject.toml.patch').rename(
            self.root / 'patches/README.rst.patch')
        problems = self.queue.check()
        self.assertIn('patches/README.rst.patch: must change exactly '
                      'README.rst, but changes pyproject.toml', problems)


class TestRefresh(QueueTestCase):

    def test_new_patch_gets_placeholder_header(self):
        self.queue.materialize(self.tree)
        (self.tree / 'nova/big.py').write_text('x = 2\n')
        written, removed, warnings = self.queue.refresh(self.tree)
        patch = self.root / 'patches/nova/big.py.patch'
        self.assertEqual([patch], written)
        self.assertTrue(patch.read_text().startswith(
            patchq.HEADER_PLACEHOLDER))
        self.assertIn('patches/nova/big.py.patch: the header must say why',
                      '\n'.join(self.queue.check()))

    def test_keeps_header_and_updates_diff(self):
        patch = self.add_patch()
        self.queue.materialize(self.tree)
        pyproject = self.tree / 'pyproject.toml'
        pyproject.write_text(pyproject.read_text() + 'ep_end = "end"\n')
        self.queue.refresh(self.tree)
        text = patch.read_text()
        self.assertTrue(text.startswith('# Register the new entry point.\n'
                                        'diff --git'))
        self.assertIn('+ep_end = "end"', text)
        self.assertIn('+ep_new = "new"', text)

    def test_drops_patch_that_became_empty(self):
        patch = self.add_patch()
        self.queue.materialize(self.tree)
        patchq.git('checkout', 'upstream', '--', 'pyproject.toml',
                   cwd=self.tree)
        written, removed, warnings = self.queue.refresh(self.tree)
        self.assertEqual([patch], removed)
        self.assertFalse(patch.exists())
        self.assertEqual([], self.queue.patches())

    def test_warns_about_new_files_in_tree(self):
        self.queue.materialize(self.tree)
        (self.tree / 'nova/stray.py').write_text('x = 1\n')
        (self.tree / 'nova/xloud.py').write_text('VALUE = 2\n')
        written, removed, warnings = self.queue.refresh(self.tree)
        self.assertEqual([], written)
        self.assertIn('nova/stray.py: new in the tree but not in the '
                      'overlay; add it to the repository', warnings)
        self.assertIn('nova/xloud.py: edited in the tree, but it is an '
                      'overlay file; edit it in the repository instead',
                      warnings)


class TestVersion(QueueTestCase):
    """+xloud.N names exactly one queue."""

    def commit(self):
        patchq.git('add', '-A', cwd=self.root)
        patchq.git('commit', '-q', '-m', 'change', cwd=self.root)

    def test_unrecorded_queue_is_refused(self):
        rc, _out, err = self.main('check-version')
        self.assertEqual(1, rc)
        self.assertIn('the queue changed since xloud 7 was recorded', err)
        self.assertIn('make bump', err)

    def test_bump_records_the_queue(self):
        self.assertEqual(0, self.main('bump')[0])
        self.assertEqual((0, '1.0.0+xloud.8\n', ''), self.main('version'))
        rc, out, err = self.main('check-version')
        self.assertEqual(0, rc, err)
        self.assertIn('ok: xloud 8 names this queue', out)
        # the rest of the file is kept
        pins = patchq.load_pins(self.root)
        self.assertEqual(['1.0.0'], [p.version for p in pins])
        self.assertEqual(8, pins[0].release)

    def test_every_change_to_the_queue_needs_a_bump(self):
        self.main('bump')
        for rel in ('nova/xloud.py', 'patches/setup.cfg.patch',
                    'overrides/1.0.0/setup.cfg.patch',
                    'xloud-osc/xloud_osc/v1.py', 'doc/source/x.rst',
                    'tools/xloud_nova.py'):
            self.write(rel, 'changed\n')
            rc, _out, err = self.main('check-version')
            self.assertEqual(1, rc, rel)
            self.main('bump')
            self.assertEqual(0, self.main('check-version')[0], rel)
        self.assertEqual('1.0.0+xloud.14', patchq.load_pin(
            self.root).local_version)

    def test_what_is_not_packaged_needs_none(self):
        self.main('bump')
        self.write('README.rst', 'changed\n')
        self.write('tools/anything.py', 'changed\n')
        self.assertEqual(0, self.main('check-version')[0])

    def test_a_number_names_one_queue(self):
        self.main('bump')
        self.commit()
        # the queue changes, and someone records it under the same N
        self.write('nova/xloud.py', 'VALUE = 2\n')
        toml = self.root / 'upstream.toml'
        recorded = patchq.recorded_queue(toml.read_text())[1]
        toml.write_text(toml.read_text().replace(
            recorded, patchq.queue_digest(self.root)))
        self.commit()
        rc, _out, err = self.main('check-version')
        self.assertEqual(1, rc)
        self.assertIn('xloud 8 names two queues', err)

    def test_a_merged_branchs_own_numbers_name_no_release(self):
        self.main('bump')
        self.commit()  # xloud 8 on main
        patchq.git('checkout', '-q', '-b', 'side', cwd=self.root)
        self.write('doc/source/side.rst', 'side\n')
        self.main('bump')
        self.commit()  # xloud 9 on the branch
        patchq.git('checkout', '-q', '-', cwd=self.root)
        self.write('nova/xloud.py', 'VALUE = 3\n')
        self.main('bump')
        self.commit()  # xloud 9 on main too, another queue
        patchq.git('merge', '-q', '--no-commit', 'side', cwd=self.root,
                   check=False)
        toml = self.root / 'upstream.toml'
        toml.write_text(toml.read_text().replace('<<<<<<<', '#'))
        patchq.git('checkout', '--ours', 'upstream.toml', cwd=self.root)
        self.main('bump')
        self.commit()  # the merge: xloud 10
        rc, out, err = self.main('check-version')
        self.assertEqual(0, rc, err)
        self.assertIn('ok: xloud 10 names this queue', out)


class TestCheck(QueueTestCase):

    def test_sound_queue(self):
        self.add_patch()
        rc, out, err = self.main('check')
        self.assertEqual(0, rc, err)
        self.assertIn('ok: nova 1.0.0: 1 patches apply', out)

    def test_seams_are_counted(self):
        self.add_patch(new_line='ep_new = "new"\nep_more = "more"\n')
        rc, out, err = self.main('check')
        self.assertEqual(0, rc, err)
        self.assertIn('seams: nova 1.0.0: 2 changed lines in 1 upstream '
                      'files (budget 150)', out)

    def test_over_the_seam_budget(self):
        self.add_patch(new_line='ep_new = "new"\nep_more = "more"\n')
        self.write_pins(budget=1)
        rc, out, err = self.main('check')
        self.assertEqual(1, rc)
        self.assertIn('1.0.0: the patches change 2 lines of upstream code, '
                      'over the budget of 1 (upstream.toml, [seams]); the '
                      'most: pyproject.toml 2.', err)

    def test_what_is_not_a_seam(self):
        for target in ('nova/tests/unit/test_big.py', 'doc/source/conf.py',
                       'api-ref/source/index.rst',
                       'releasenotes/notes/a.yaml'):
            self.assertFalse(patchq.is_seam(target), target)
        for target in ('nova/compute/manager.py', 'pyproject.toml'):
            self.assertTrue(patchq.is_seam(target), target)

    def test_whole_file_copy(self):
        self.write('doc/readme-copy.txt', UPSTREAM['README.rst'])
        self.assertIn('doc/readme-copy.txt: a copy of upstream README.rst',
                      self.queue.check())

    def test_large_piece_copied(self):
        lines = UPSTREAM['nova/big.py'].splitlines(keepends=True)
        piece = ''.join(lines[8:8 + 3 * patchq.COPY_WINDOW])
        self.write('nova/mine.py', '"""Mine."""\n' + piece)
        problems = self.queue.check()
        self.assertTrue(
            any(p.startswith('nova/mine.py: 12 lines copied from upstream '
                             'nova/big.py') for p in problems), problems)

    def test_small_shared_piece_is_fine(self):
        lines = UPSTREAM['nova/big.py'].splitlines(keepends=True)
        self.write('nova/mine.py', '"""Mine."""\n' + ''.join(lines[:8]))
        self.assertEqual([], self.queue.check())

    def test_patch_without_upstream_tests(self):
        self.add_patch()
        self.write('upstream-tests.txt', '# nothing\n')
        self.assertIn('upstream-tests.txt: patched upstream file '
                      'pyproject.toml lists no upstream tests',
                      self.queue.check())

    def test_unknown_test_module(self):
        self.add_patch()
        self.write('upstream-tests.txt', '''\
            pyproject.toml: nova.tests.unit.test_big
                nova.tests.unit.test_missing
            ''')
        self.assertEqual(['upstream-tests.txt: pyproject.toml: no upstream '
                          'test module nova.tests.unit.test_missing'],
                         self.queue.check())

    def test_alternative_modules_take_the_first_the_release_has(self):
        self.add_patch()
        self.write('upstream-tests.txt', """\
            pyproject.toml: nova.tests.unit.test_renamed|
                nova.tests.unit.test_big
            """)
        self.assertEqual({'pyproject.toml': ['nova.tests.unit.test_big']},
                         self.queue.tests_map())
        self.assertEqual([], self.queue.check())

    def test_alternative_modules_none_of_which_exists(self):
        self.add_patch()
        self.write('upstream-tests.txt',
                   'pyproject.toml: nova.tests.unit.test_a|'
                   'nova.tests.unit.test_b\n')
        self.assertEqual(['upstream-tests.txt: pyproject.toml: no upstream '
                          'test module nova.tests.unit.test_a|'
                          'nova.tests.unit.test_b'], self.queue.check())

    def test_a_stage_stands_for_tests(self):
        self.add_patch()
        self.write('upstream-tests.txt', 'pyproject.toml: @docs\n')
        self.assertEqual([], self.queue.check())

    def test_unknown_stage(self):
        self.add_patch()
        self.write('upstream-tests.txt', 'pyproject.toml: @nope\n')
        self.assertEqual(['upstream-tests.txt: pyproject.toml: unknown '
                          'stage @nope (known: @docs)'], self.queue.check())


#: Release 0.9.0 of the fake upstream: two lines of pyproject.toml
#: differ, and nova/big.py is the same.
OLDER = dict(UPSTREAM, **{
    'pyproject.toml': '[entry-points]\n' + ''.join(
        f'ep{i} = "old{i}"\n' if i in (2, 6) else f'ep{i} = "mod{i}"\n'
        for i in range(10))})


class TestReleases(QueueTestCase):

    def test_default_and_named_release(self):
        older = self.add_release('0.9.0', OLDER)
        self.assertEqual('0.9.0+xloud.7', older.pin.local_version)
        self.assertFalse(older.pin.default)
        self.assertEqual('constraints/0.9.0.txt', older.pin.constraints)
        self.assertEqual((0, '1.0.0\n0.9.0\n', ''), self.main('releases'))
        self.assertEqual((0, '0.9.0+xloud.7\n', ''),
                         self.main('--release', '0.9.0', 'version'))
        with mock.patch.dict(os.environ, NOVA='0.9.0'):
            self.assertEqual('0.9.0', patchq.load_pin(self.root).version)

    def test_unsupported_release_names_the_supported(self):
        rc, out, err = self.main('--release', '2.0.0', 'version')
        self.assertEqual(1, rc)
        self.assertIn('nova 2.0.0 is not supported; upstream.toml pins '
                      '1.0.0', err)

    def test_port_writes_override_and_check_proves_it(self):
        self.add_patch()
        older = self.add_release('0.9.0', OLDER)
        self.assertIn('hunk #1', self.main('check')[2])
        tree = self.root / 'build' / 'port'
        rc, out, err = self.main('port', '0.9.0', '--tree', str(tree))
        self.assertEqual(0, rc, err)
        self.assertIn('applied with fuzz', out)  # one line of context fits
        rc, out, err = self.main('port', '0.9.0', '--tree', str(tree),
                                 '--write')
        self.assertEqual(0, rc, err)
        override = self.root / 'overrides/0.9.0/pyproject.toml.patch'
        self.assertIn('wrote overrides/0.9.0/pyproject.toml.patch', out)
        self.assertTrue(override.read_text().startswith(
            '# Port of patches/pyproject.toml.patch ('))
        self.assertIn(patchq.SAME_CHANGE, override.read_text())
        rc, out, err = self.main('check')
        self.assertEqual(0, rc, err)
        self.assertIn('ok: nova 0.9.0: 1 patches apply (1 overridden, 1 of '
                      'them the same change', out)
        self.assertEqual([], older.driver_differs())
        older.materialize(self.root / 'build' / 'older')
        self.assertIn('ep_new = "new"\n',
                      (self.root / 'build/older/pyproject.toml').read_text())

    def test_stale_override_is_reported(self):
        patch = self.add_patch()
        self.add_release('0.9.0', OLDER)
        tree = self.root / 'build' / 'port'
        self.main('port', '0.9.0', '--tree', str(tree))
        self.main('port', '0.9.0', '--tree', str(tree), '--write')
        patch.write_text(patch.read_text().replace('ep_new', 'ep_newer'))
        rc, out, err = self.main('check')
        self.assertEqual(1, rc)
        self.assertIn('0.9.0: overrides/0.9.0/pyproject.toml.patch: stale: '
                      'patches/pyproject.toml.patch changed', err)

    def test_other_change_needs_a_reason(self):
        self.add_patch()
        self.add_release('0.9.0', OLDER)
        tree = self.root / 'build' / 'port'
        self.main('port', '0.9.0', '--tree', str(tree))
        pyproject = tree / 'pyproject.toml'
        pyproject.write_text(pyproject.read_text().replace(
            'ep_new = "new"', 'ep_new = "other"'))
        self.main('port', '0.9.0', '--tree', str(tree), '--write')
        rc, out, err = self.main('check')
        self.assertEqual(1, rc)
        self.assertIn('must say why 0.9.0 needs its own hunks', err)

    def test_failed_hunk_blocks_write_until_fixed(self):
        self.add_patch(after='ep5 = "mod5"\n')
        self.add_release('0.9.0', OLDER)
        tree = self.root / 'build' / 'port'
        rc, out, err = self.main('port', '0.9.0', '--tree', str(tree))
        self.assertIn('FAILED: patches/pyproject.toml.patch: '
                      'pyproject.toml: hunk #1', out)
        rc, out, err = self.main('port', '0.9.0', '--tree', str(tree),
                                 '--write')
        self.assertEqual(1, rc)
        self.assertIn('pyproject.toml.rej', err)

    def test_port_again_keeps_current_overrides(self):
        self.add_patch(after='ep5 = "mod5"\n')
        self.add_release('0.9.0', OLDER)
        tree = self.root / 'build' / 'port'
        self.main('port', '0.9.0', '--tree', str(tree))
        (tree / 'pyproject.toml.rej').unlink()
        pyproject = tree / 'pyproject.toml'
        pyproject.write_text(pyproject.read_text().replace(
            'ep5 = "mod5"\n', 'ep5 = "mod5"\nep_new = "new"\n'))
        self.assertEqual(0, self.main('port', '0.9.0', '--tree', str(tree),
                                      '--write')[0])
        rc, out, err = self.main('port', '0.9.0', '--tree', str(tree))
        self.assertIn('override kept: overrides/0.9.0/pyproject.toml.patch',
                      out)
        self.assertIn('0 hunks failed', out)
        self.assertEqual([], list(tree.rglob('*.rej')))

    def test_port_keeps_a_hand_override_of_another_file(self):
        self.add_patch()
        files = {k: v for k, v in OLDER.items() if k != 'pyproject.toml'}
        files['setup.cfg'] = UPSTREAM['pyproject.toml']
        self.add_release('0.8.0', files)
        tree = self.root / 'build' / 'port'
        self.main('port', '0.8.0', '--tree', str(tree))
        rc, out, err = self.main('port', '0.8.0', '--tree', str(tree),
                                 '--write')
        self.assertEqual(1, rc)
        self.assertIn('pyproject.toml: this release has no such file', err)
        cfg = tree / 'setup.cfg'
        cfg.write_text(cfg.read_text().replace(
            'ep4 = "mod4"\n', 'ep4 = "mod4"\nep_new = "new"\n'))
        diff = patchq.git('diff', '--no-color', '--no-ext-diff', 'upstream',
                          '--', 'setup.cfg', cwd=tree)
        patch = self.root / 'patches' / 'pyproject.toml.patch'
        override = self.write(
            'overrides/0.8.0/pyproject.toml.patch',
            patchq_port.PORT_LINE.format(
                patch='patches/pyproject.toml.patch',
                digest=patchq_common.digest(patch), name='nova',
                version='0.8.0') + '\n# Entry points are in setup.cfg.\n' +
            diff)
        text = override.read_text()
        rc, out, err = self.main('port', '0.8.0', '--tree', str(tree),
                                 '--write')
        self.assertEqual(0, rc, err)
        self.assertEqual(text, override.read_text())

    def test_port_pins_a_new_release(self):
        self.add_patch()
        make_sdist(self.root / '.cache' / 'upstream', version='1.1.0')
        tree = self.root / 'build' / 'port'
        self.main('port', '1.1.0', '--tree', str(tree))
        rc, out, err = self.main('port', '1.1.0', '--tree', str(tree),
                                 '--write')
        self.assertEqual(0, rc, err)
        self.assertIn('pinned 1.1.0 in upstream.toml', out)
        self.assertEqual(['1.0.0', '1.1.0'],
                         [p.version for p in patchq.load_pins(self.root)])
        self.assertFalse((self.root / 'overrides').exists())

    def test_default_release_takes_no_overrides(self):
        self.write('overrides/1.0.0/pyproject.toml.patch', 'x')
        self.assertIn('overrides/1.0.0: the default release takes the '
                      'series as it is; it has no overrides',
                      self.queue.check())

    def test_refresh_only_on_the_default_release(self):
        older = self.add_release('0.9.0', OLDER)
        with self.assertRaisesRegex(patchq.QueueError, 'port 0.9.0'):
            older.refresh(self.tree)

    def test_dist_keeps_other_releases_packages(self):
        outdir = self.root / 'dist'
        outdir.mkdir()
        other = outdir / 'nova-0.9.0+xloud.7-py3-none-any.whl'
        stale = outdir / 'nova-1.0.0+xloud.6-py3-none-any.whl'
        other.touch()
        stale.touch()
        with mock.patch.object(subprocess, 'run',
                               return_value=subprocess.CompletedProcess(
                                   [], 1, '', 'boom')):
            self.assertRaises(patchq.QueueError, patchq.build_dist,
                              self.root, outdir, 'nova', 'packages',
                              self.queue.pin.local_version)
        self.assertTrue(other.exists())
        self.assertFalse(stale.exists())


class TestDist(QueueTestCase):

    def test_builds_with_local_version(self):
        self.queue.materialize(self.tree)
        outdir = self.root / 'dist'

        real_run = subprocess.run

        def fake_build(cmd, env, **kwargs):
            if cmd[0] == 'git':
                return real_run(cmd, env=env, **kwargs)
            self.assertEqual('1.0.0+xloud.7', env['PBR_VERSION'])
            # no isolated build environment: pip would build it with
            # our PBR_VERSION set
            self.assertIn('--no-isolation', cmd)
            # and reno, which that finds installed, stays out of the sdist
            self.assertEqual('1', env['SKIP_GENERATE_RENO'])
            self.assertEqual(str(self.tree), cmd[-1])
            for name in ('nova-1.0.0+xloud.7-py3-none-any.whl',
                         'nova-1.0.0+xloud.7.tar.gz'):
                (outdir / name).touch()
            return subprocess.CompletedProcess(cmd, 0, '', '')

        with mock.patch.object(subprocess, 'run',
                               side_effect=fake_build):
            built = self.queue.dist(self.tree, outdir)
        self.assertEqual(['nova-1.0.0+xloud.7-py3-none-any.whl',
                          'nova-1.0.0+xloud.7.tar.gz'],
                         [p.name for p in built])

    def test_refuses_dirty_tree(self):
        self.queue.materialize(self.tree)
        (self.tree / 'README.rst').write_text('edited\n')
        rc, out, err = self.main('dist')
        self.assertEqual(1, rc)
        self.assertIn('uncommitted edits', err)


class TestHelp(unittest.TestCase):

    def test_every_command_has_help(self):
        for command in ([], ['fetch'], ['tree'], ['refresh'], ['check'],
                        ['dist'], ['version'], ['releases'], ['port']):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                with self.assertRaises(SystemExit) as cm:
                    patchq.main(command + ['--help'])
            self.assertEqual(0, cm.exception.code)
            self.assertIn('usage: patchq', out.getvalue())


if __name__ == '__main__':
    unittest.main()
