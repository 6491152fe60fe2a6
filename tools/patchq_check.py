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

"""Checking: is one release's queue sound?

Every patch (or its override) applies to pristine upstream and says why,
the overrides are current, no overlay file has an upstream path, no file
of ours copies upstream, every patched file names the upstream tests that
cover it, and the seams (changed lines of upstream code) are counted
against the budget in ``upstream.toml``.
"""

import hashlib
import pathlib
import shutil
import tempfile

from patchq_common import change_lines
from patchq_common import HEADER_PLACEHOLDER
from patchq_common import parse_patch
from patchq_common import QueueError
from patchq_common import tomllib
from patchq_sources import TESTS_MAP

#: A window of this many significant lines shared with an upstream file
#: counts as a copy of a large piece of it.
COPY_WINDOW = 12
#: Files with fewer significant lines than this are too small to be a copy
#: (empty ``__init__.py`` and the like).
COPY_MIN_LINES = 4
#: In TESTS_MAP, a stage of "make check" that proves a patched file no unit
#: test covers, such as a documentation index that only a doc build reads.
STAGE_TESTS = {'@docs': 'the docs stage: sphinx-build -W of the tree'}
#: Upstream paths whose changes do not count against the seam budget:
#: tests and documentation (README.rst, "Keeping the seams thin").
SEAM_EXEMPT = ('doc/', 'api-ref/', 'releasenotes/')


def is_seam(target):
    """Whether a change to upstream file ``target`` is a seam."""
    return '/tests/' not in target and not target.startswith(SEAM_EXEMPT)


def seam_budget(root):
    """The most changed seam lines a release's queue may have."""
    path = pathlib.Path(root) / 'upstream.toml'
    try:
        with open(path, 'rb') as f:
            return int(tomllib.load(f)['seams']['budget'])
    except (OSError, KeyError, ValueError, TypeError,
            tomllib.TOMLDecodeError) as e:
        raise QueueError(f'{path}: no [seams] budget: {e}')


def significant_lines(text):
    """Lines that carry code: no blanks, no comments, whitespace folded."""
    out = []
    for line in text.splitlines():
        line = ' '.join(line.split())
        if not line or line.startswith('#'):
            continue
        out.append(line)
    return out


def windows(lines, size=COPY_WINDOW):
    for i in range(len(lines) - size + 1):
        yield hashlib.blake2b('\n'.join(lines[i:i + size]).encode(),
                              digest_size=12).digest()


class Checker:
    """Checks one release's queue (:class:`Sources`).

    :param applier: the :class:`Applier` of the same Sources
    :param porter: the :class:`Porter` of the same Sources
    """

    def __init__(self, sources, applier, porter):
        self.sources = sources
        self.applier = applier
        self.porter = porter

    def check(self):
        """Return a list of problems with the queue (empty when sound)."""
        problems = []
        upstream = self.sources.upstream_dir()
        upstream_files = self.sources.upstream_files()
        patches = self.sources.patches()
        for name in self.sources.collisions(upstream_files):
            problems.append(f'{name}: overlay file collides with the '
                            f'upstream file of the same path')
        rel = self.sources.rel
        with tempfile.TemporaryDirectory(prefix='patchq-') as scratch:
            for patch, target in patches:
                try:
                    header = parse_patch(patch.read_text())[0]
                except QueueError as e:
                    problems.append(f'{rel(patch)}: {e}')
                    continue
                if (not header.strip() or
                        HEADER_PLACEHOLDER in header):
                    problems.append(f'{rel(patch)}: the header must '
                                    f'say why {target} changes')
                if target not in upstream_files:
                    problems.append(f'{rel(patch)}: upstream has no '
                                    f'file {target}')
                    continue
                dest = pathlib.Path(scratch) / target
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(upstream / target, dest)
                problems += self.applier.apply_patch(patch, target, scratch)
        problems += self.porter.check_overrides()
        problems += self.copies(upstream_files)
        return problems + self.tests_map_problems(upstream_files)

    def tests_map_problems(self, upstream_files):
        """Problems with upstream-tests.txt: every patched file's tests."""
        problems = []
        try:
            mapping = self.sources.tests_map()
        except QueueError as e:
            return [str(e)]
        targets = {t for _, t in self.sources.base_patches()}
        for target in sorted(targets - set(mapping)):
            problems.append(f'{TESTS_MAP}: patched upstream file {target} '
                            f'lists no upstream tests')
        for target, modules in sorted(mapping.items()):
            if target not in targets:
                problems.append(f'{TESTS_MAP}: {target} is not patched')
            for module in modules:
                if module.startswith('@'):
                    if module not in STAGE_TESTS:
                        problems.append(
                            f'{TESTS_MAP}: {target}: unknown stage {module} '
                            f'(known: {", ".join(sorted(STAGE_TESTS))})')
                    continue
                path = module.replace('.', '/')
                if (path + '.py' not in upstream_files and
                        path + '/__init__.py' not in upstream_files):
                    problems.append(f'{TESTS_MAP}: {target}: no upstream '
                                    f'test module {module}')
        return problems

    def copies(self, upstream_files):
        """Repository files that copy an upstream file or a large piece."""
        top = self.sources.upstream_dir()
        whole, pieces = {}, {}
        for name in upstream_files:
            data = (top / name).read_bytes()
            try:
                lines = significant_lines(data.decode())
            except UnicodeDecodeError:
                continue
            if len(lines) >= COPY_MIN_LINES:
                whole.setdefault(hashlib.sha256(data).digest(), name)
            if name.endswith('.py'):
                for w in windows(lines):
                    pieces.setdefault(w, name)
        found = []
        for name in self.sources.repo_files():
            if name.startswith('patches/'):
                continue  # context lines of upstream are the point there
            data = (self.sources.root / name).read_bytes()
            try:
                lines = significant_lines(data.decode())
            except UnicodeDecodeError:
                lines = []
            if len(lines) < COPY_MIN_LINES:
                continue
            match = whole.get(hashlib.sha256(data).digest())
            if match:
                found.append(f'{name}: a copy of upstream {match}')
                continue
            for i, w in enumerate(windows(lines)):
                if w in pieces:
                    found.append(
                        f'{name}: {COPY_WINDOW} lines copied from upstream '
                        f'{pieces[w]} (starting "{lines[i][:60]}")')
                    break
        return found

    def seams(self):
        """{upstream file: changed lines} of this release's seams.

        Lines added plus lines removed, over every patch (or its override)
        of a file that :func:`is_seam`.
        """
        return {target: len(change_lines(parse_patch(patch.read_text())[1]))
                for patch, target in self.sources.patches() if is_seam(target)}
