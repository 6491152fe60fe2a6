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

"""Tests for tools/docs.py: the checks on what a doc build produced."""

import pathlib
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import docs  # noqa: E402

SAMPLE = textwrap.dedent('''\
    [DEFAULT]

    #debug = false

    [libvirt]

    #
    # The virt type.
    #  (string value)
    #virt_type = kvm

    [xloud]

    #
    # Seconds between two looks.
    #  (integer value)
    #poll_interval = 60
    ''')


class TestMissingOptions(unittest.TestCase):

    def test_present(self):
        self.assertEqual({'xloud': [], 'libvirt': []}, docs.missing_options(
            SAMPLE, {'xloud': ['poll_interval'], 'libvirt': ['virt_type']}))

    def test_option_missing_from_its_group(self):
        # virt_type is in the sample, but not under [xloud].
        self.assertEqual({'xloud': ['virt_type']}, docs.missing_options(
            SAMPLE, {'xloud': ['poll_interval', 'virt_type']}))

    def test_group_missing(self):
        self.assertEqual({'xloud_new': None}, docs.missing_options(
            SAMPLE, {'xloud_new': ['poll_interval']}))


class TestNoteShown(unittest.TestCase):

    NOTE = {'features': ['Administrators can grow or shrink a running '
                         'server\'s ``vCPUs`` live, with no reboot at all.'],
            'upgrade': ['Upgrade the API services first: computes that '
                        'still run upstream Nova are refused with 409.']}

    def page(self, *paragraphs):
        return ('<html><script>var x = "features";</script><body>' +
                ''.join(f'<p>{p}</p>' for p in paragraphs) + '</body></html>')

    def test_shown_through_markup_and_typography(self):
        self.assertTrue(docs.note_shown(self.NOTE, self.page(
            'Administrators can grow or shrink a running server&#8217;s '
            '<code class="docutils">vCPUs</code> live, with no reboot at '
            'all.',
            'Upgrade the API services first: computes that still run '
            'upstream Nova are refused with 409.')))

    def test_one_entry_missing(self):
        self.assertFalse(docs.note_shown(self.NOTE, self.page(
            'Administrators can grow or shrink a running server&#8217;s '
            'vCPUs live, with no reboot at all.')))

    def test_empty_note(self):
        self.assertFalse(docs.note_shown({}, self.page('anything')))


def run(*cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


class TestRenoRefs(unittest.TestCase):
    """The history reno needs, on a small tree like a materialized one."""

    def make_repo(self, upstream_notes):
        tmp = tempfile.TemporaryDirectory(prefix='docs-test-')
        self.addCleanup(tmp.cleanup)
        src = pathlib.Path(tmp.name)
        notes = src / 'releasenotes' / 'notes'
        notes.mkdir(parents=True)
        source = src / 'releasenotes' / 'source'
        source.mkdir()
        for name in upstream_notes:
            (notes / f'{name}.yaml').write_text('---\nfixes:\n  - x\n')
        (source / '2026.1.rst').write_text(
            '.. release-notes::\n   :branch: stable/2026.1\n'
            '   :earliest-version: 33.0.0\n')
        (source / 'unreleased.rst').write_text('.. release-notes::\n')
        git = ('git', '-c', 'user.name=t', '-c', 'user.email=t@t')
        run('git', 'init', '-q', '--initial-branch=xloud', cwd=src)
        run('git', 'add', '-A', cwd=src)
        run(*git, 'commit', '-q', '-m', 'upstream', cwd=src)
        run('git', 'tag', 'upstream', cwd=src)
        (notes / 'ours-fedcba9876543210.yaml').write_text('---\n')
        run('git', 'add', '-A', cwd=src)
        run(*git, 'commit', '-q', '-m', 'xloud', cwd=src)
        return src

    def setUp(self):
        super().setUp()
        # Two upstream notes share the UID "a1b2c3d4e5f6g7h8".
        self.src = self.make_repo(['one-a1b2c3d4e5f6g7h8',
                                   'two-a1b2c3d4e5f6g7h8',
                                   'three-0123456789abcdef'])
        self.tree = run('git', 'rev-parse', 'HEAD^{tree}', cwd=self.src)
        self.upstream_tree = run('git', 'rev-parse', 'upstream^{tree}',
                                 cwd=self.src)

    def test_refs(self):
        docs.reno_refs(self.src, '34.0.0')

        def rev(ref):
            return run('git', 'rev-parse', ref, cwd=self.src)

        # HEAD still has the tree's content, on top of upstream's tree.
        self.assertEqual(self.tree, rev('HEAD^{tree}'))
        self.assertEqual(self.upstream_tree, rev('34.0.0^{tree}'))
        self.assertEqual(rev('HEAD^'), rev('34.0.0'))
        self.assertEqual(rev('HEAD'), rev('master'))
        self.assertEqual(rev('34.0.0'), rev('stable/' + docs.CURRENT_SERIES))
        # The duplicate UIDs are added by two commits.
        added = run('git', 'log', '--format=', '--name-only',
                    '--diff-filter=A', '34.0.0', cwd=self.src).split()
        self.assertEqual(2, len(run('git', 'rev-list', '34.0.0',
                                    cwd=self.src).split()))
        self.assertIn('releasenotes/notes/two-a1b2c3d4e5f6g7h8.yaml', added)
        first = run('git', 'ls-tree', '-r', '--name-only', '34.0.0^',
                    cwd=self.src).split()
        self.assertIn('releasenotes/notes/one-a1b2c3d4e5f6g7h8.yaml', first)
        self.assertNotIn('releasenotes/notes/two-a1b2c3d4e5f6g7h8.yaml',
                         first)
        # The stable branch a page names exists, empty, with its earliest
        # version tagged.
        self.assertEqual(rev('stable/2026.1'), rev('33.0.0'))
        self.assertEqual('', run('git', 'ls-tree', 'stable/2026.1',
                                 cwd=self.src))

    def test_no_duplicates_keeps_the_history(self):
        src = self.make_repo(['one-a1b2c3d4e5f6g7h8',
                              'three-0123456789abcdef'])
        head = run('git', 'rev-parse', 'HEAD', cwd=src)
        self.assertEqual('upstream', docs.split_notes(src))
        self.assertEqual(head, run('git', 'rev-parse', 'HEAD', cwd=src))


if __name__ == '__main__':
    unittest.main()
