#!/usr/bin/env python3
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

"""Applying: the patched tree, made from the queue and read back into it.

:class:`Applier` applies single patches, materializes a release's tree as
a git repository (upstream tagged "upstream", ours tagged "xloud"), finds
edits in a tree that the repository does not hold, and writes a tree's
edits back into the series ("refresh").
"""

import os
import pathlib
import re
import shutil
import subprocess

from patchq_common import git
from patchq_common import HEADER_PLACEHOLDER
from patchq_common import parse_patch
from patchq_common import QueueError

#: What builds and test runs leave in a materialized tree.
TREE_GENERATED = ('*.egg-info/', '.eggs/', '__pycache__/', '*.py[co]',
                  '.stestr/', '.tox/', '/build/', '/dist/', '/cover/',
                  '/.coverage*', '/instances/')


class Applier:
    """Applies one release's queue (:class:`Sources`) to trees."""

    def __init__(self, sources):
        self.sources = sources

    def apply_patch(self, patch, target, tree, keep_rejects=False,
                    fuzz=False):
        """Apply one patch in ``tree``; return a list of error lines.

        With ``fuzz``, a patch that does not apply unchanged is applied
        again to the untouched file with one line of context ("git apply
        -C1"), and what that takes is reported as "fuzz: ..." lines.
        """
        rel = self.sources.rel(patch)
        try:
            header, _, targets, hunks = parse_patch(patch.read_text())
        except QueueError as e:
            return [f'{rel}: {e}']
        if targets != {target}:
            return [f'{rel}: must change exactly {target}, '
                    f'but changes {", ".join(sorted(targets)) or "nothing"}']
        path = pathlib.Path(tree) / target
        if not path.is_file():
            return [f'{rel}: upstream has no file {target}']
        original = path.read_bytes()
        proc = self._git_apply(patch, tree)
        if proc.returncode and fuzz:
            path.write_bytes(original)
            pathlib.Path(str(path) + '.rej').unlink(missing_ok=True)
            proc = self._git_apply(patch, tree, '-C1')
            if proc.returncode == 0:
                return [f'fuzz: {rel}: applied with one line '
                        f'of context; review {target}']
        if proc.returncode == 0:
            return []
        rejected = [int(n) for n in re.findall(r'Rejected hunk #(\d+)',
                                               proc.stderr)]
        if not keep_rejects:
            rej = pathlib.Path(tree) / (target + '.rej')
            if rej.exists():
                rej.unlink()
        if not rejected:
            return [f'{rel}: {target}: git apply failed: '
                    f'{proc.stderr.strip()}']
        return [f'{rel}: {target}: hunk #{h.number} '
                f'({h.header}) does not apply'
                for h in hunks if h.number in rejected]

    @staticmethod
    def _git_apply(patch, tree, *options):
        return subprocess.run(
            ['git', 'apply', '--reject', '--verbose', '--whitespace=nowarn',
             *options, str(patch)], cwd=tree, capture_output=True,
            text=True, env=dict(os.environ, LC_ALL='C'))

    def unpack(self, tree, force=False):
        """Make ``tree`` upstream's, committed, with the overlay copied in.

        The start of every tree: what is left is to apply patches. An
        existing tree is replaced, unless it holds edits the repository
        does not and ``force`` is not given.
        """
        tree = pathlib.Path(tree)
        if (tree / '.git').exists() and not force:
            pending = self.unexported(tree)
            if pending:
                raise QueueError(
                    f'{tree} has edits that patches/ and the overlay do not '
                    f'hold; run "refresh" to keep them, or pass --force to '
                    f'throw them away:\n  ' + '\n  '.join(pending))
        upstream = self.sources.upstream_dir()
        upstream_files = self.sources.upstream_files()
        collisions = self.sources.collisions(upstream_files)
        if collisions:
            raise QueueError('\n'.join(
                f'{n}: overlay file collides with the upstream file of the '
                f'same path; change the upstream file through patches/'
                for n in collisions))
        if tree.exists():
            shutil.rmtree(tree)
        tree.parent.mkdir(parents=True, exist_ok=True)
        # The sdist's nova.egg-info/ is generated metadata, not source (the
        # upstream git tree has none). Left at the tree's root it would
        # shadow the installed package's entry points, ours included, for
        # everything run from there, such as the tests.
        shutil.copytree(upstream, tree, symlinks=True,
                        ignore=shutil.ignore_patterns('.xloud-extracted',
                                                      '*.egg-info'))
        git('init', '--quiet', '--initial-branch=xloud', cwd=tree)
        # The sdist has no .gitignore; keep what builds and test runs
        # generate out of "git status", and so out of "refresh".
        (tree / '.git' / 'info' / 'exclude').write_text(
            '\n'.join(TREE_GENERATED) + '\n')
        git('add', '--all', '--force', cwd=tree)
        pin = self.sources.pin
        git('commit', '--quiet', '--no-verify', '-m',
            f'upstream {pin.name} {pin.version}', cwd=tree)
        git('tag', 'upstream', cwd=tree)
        for name in self.sources.overlay_files():
            dest = tree / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.sources.root / name, dest)
        return tree

    def materialize(self, tree, force=False, keep_going=False):
        """Build the patched tree as a git repository at ``tree``.

        With ``keep_going``, every hunk that applies is applied and the
        rest are left beside their files as *.rej, before it fails.
        """
        tree = self.unpack(tree, force=force)
        errors = []
        for patch, target in self.sources.patches():
            errors += self.apply_patch(patch, target, tree,
                                       keep_rejects=keep_going)
        if errors:
            if keep_going:
                hint = ('rejected hunks are left beside their files as '
                        '*.rej in ' + str(tree))
            else:
                hint = 'the tree is left half-patched'
            raise QueueError('\n'.join(errors) + f'\n({hint})')
        git('add', '--all', '--force', cwd=tree)
        git('commit', '--quiet', '--no-verify', '--allow-empty', '-m',
            f'xloud {self.sources.pin.local_version}: overlay and patches',
            cwd=tree)
        git('tag', 'xloud', cwd=tree)
        return tree

    def unexported(self, tree):
        """Edits made in ``tree`` that the repository does not hold.

        Only what changed in the tree since it was materialized counts: a
        tree that is merely older than the repository holds no edits.
        """
        upstream = set(git('ls-tree', '-r', '--name-only', 'upstream',
                           cwd=tree).splitlines())
        since = git('diff', '--name-only', 'xloud', cwd=tree,
                    check=False).splitlines()
        patches = {t: p for p, t in self.sources.patches()}
        pending = []
        for name in since:
            if name in upstream:
                diff = git('diff', '--no-color', '--no-ext-diff', 'upstream',
                           '--', name, cwd=tree)
                held = (parse_patch(patches[name].read_text())[1]
                        if name in patches else '')
                if diff != held:
                    pending.append(f'{name}: edited, not in patches/')
            elif not self.same_as_repo(tree, name):
                pending.append(f'{name}: edited in the tree')
        for name in git('ls-files', '--others', '--exclude-standard',
                        cwd=tree).splitlines():
            if not self.same_as_repo(tree, name):
                pending.append(f'{name}: new in the tree')
        return pending

    def same_as_repo(self, tree, name):
        """Whether ``name`` in ``tree`` is the repository's file as it is."""
        ours = self.sources.root / name
        return (ours.is_file() and
                ours.read_bytes() == (pathlib.Path(tree) / name).read_bytes())

    def refresh(self, tree, dry_run=False):
        """Regenerate patches/ from the tree's diff against upstream.

        Returns (written, removed, warnings); with ``dry_run`` nothing is
        written and the lists say what would be.
        """
        tree = pathlib.Path(tree)
        pin, patch_dir = self.sources.pin, self.sources.patch_dir
        if not pin.default:
            raise QueueError(
                f'the series is refreshed from a tree of the default release;'
                f' for {pin.version}, fix its tree and run "port '
                f'{pin.version} --write"')
        if not (tree / '.git').exists():
            raise QueueError(f'{tree} is not a materialized tree; run "tree"')
        upstream = set(git('ls-tree', '-r', '--name-only', 'upstream',
                           cwd=tree).splitlines())
        changed = set(git('diff', '--name-only', 'upstream',
                          cwd=tree).splitlines())
        warnings = []
        written, removed = [], []
        overlay = set(self.sources.overlay_files())
        # Changed since the tree was materialized, but not upstream files:
        # the overlay copies, which are edited in the repository.
        since = set(git('diff', '--name-only', 'xloud', cwd=tree,
                        check=False).splitlines())
        for name in sorted(since - upstream):
            if name in overlay:
                if (tree / name).read_bytes() == (self.sources.root / name
                                                  ).read_bytes():
                    continue  # copied over from the repository: nothing lost
                warnings.append(
                    f'{name}: edited in the tree, but it is an overlay '
                    f'file; edit it in the repository instead')
            else:
                warnings.append(f'{name}: new in the tree but not in the '
                                f'overlay; add it to the repository')
        untracked = git('ls-files', '--others', '--exclude-standard',
                        '--directory', cwd=tree).splitlines()
        for name in untracked:
            if name not in overlay:
                warnings.append(f'{name}: new in the tree but not in the '
                                f'overlay; add it to the repository')
        wanted = {}
        for name in sorted(changed & upstream):
            diff = git('diff', '--no-color', '--no-ext-diff', 'upstream',
                       '--', name, cwd=tree)
            if diff:
                wanted[name] = diff
        existing = {t: p for p, t in self.sources.patches()}
        for name, diff in wanted.items():
            path = patch_dir / (name + '.patch')
            header = HEADER_PLACEHOLDER + '\n'
            if name in existing:
                header = parse_patch(existing[name].read_text())[0] or header
            text = header + diff
            if not path.exists() or path.read_text() != text:
                written.append(path)
                if not dry_run:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
        for name, path in existing.items():
            if name not in wanted:
                removed.append(path)
                if dry_run:
                    continue
                path.unlink()
                parent = path.parent
                while parent != patch_dir and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
        return written, removed, warnings
