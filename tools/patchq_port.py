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

"""Overrides and porting: where a release needs hunks of its own.

One series serves every pinned release. Where a release needs a hunk of
its own, ``overrides/<release>/<upstream path>.patch`` replaces that one
patch for that release; :class:`Porter` starts a port (the series applied
with fuzz), writes the overrides from the fixed tree, and says what is
wrong with the overrides a release has.
"""

import pathlib
import re
import shutil
import tempfile

from patchq_common import change_lines
from patchq_common import digest
from patchq_common import git
from patchq_common import HEADER_PLACEHOLDER
from patchq_common import parse_patch
from patchq_common import QueueError

#: The first line of an override's header: which patch it ports, and the
#: sha256 (12 digits) of that patch when it was ported.
PORT_LINE = '# Port of {patch} ({digest}) to {name} {version}.'
PORT_RE = re.compile(r'^# Port of (\S+) \(([0-9a-f]{12})\) to .*$', re.M)
#: What an override says when only the context of the series' change
#: differs in its release, which "check" then proves.
SAME_CHANGE = ('# The same lines change as in the series; only their '
               'context differs\n# in this release.\n')
#: Upstream paths of the driver: where a release's patches change them
#: otherwise than the series, the real-hypervisor suite runs there too.
DRIVER_PATHS = ('nova/virt/',)


class Porter:
    """Ports one release's queue (:class:`Sources`) and checks overrides.

    :param applier: the :class:`Applier` of the same Sources
    """

    def __init__(self, sources, applier):
        self.sources = sources
        self.applier = applier

    def start(self, tree, force=False):
        """Unpack ``tree`` and apply the series to it, for a port.

        The series goes without this release's overrides, with fuzz, and
        keeps going; returns what :meth:`port_patches` reports.
        """
        tree = self.applier.unpack(tree, force=force)
        return self.port_patches(tree)

    def port_patches(self, tree):
        """Apply the series to a port's tree; return what it reports.

        A patch that fails even with fuzz, but has a current override
        (ported from the series patch as it is now), takes the override:
        a port then asks for hand work only where the series changed.
        """
        rel = self.sources.rel
        overrides = self.sources.overrides()
        lines = []
        for patch, target in self.sources.base_patches():
            path = pathlib.Path(tree) / target
            original = path.read_bytes() if path.is_file() else None
            errors = self.applier.apply_patch(patch, target, tree,
                                              keep_rejects=True, fuzz=True)
            override = overrides.get(target)
            failed = [e for e in errors if not e.startswith('fuzz: ')]
            if failed and override and original is not None:
                header, _, changed, _ = parse_patch(override.read_text())
                m = PORT_RE.search(header)
                if m and m.group(2) == digest(patch) and len(changed) == 1:
                    path.write_bytes(original)
                    pathlib.Path(str(path) + '.rej').unlink(missing_ok=True)
                    again = self.applier.apply_patch(override, changed.pop(),
                                                     tree)
                    if not again:
                        lines.append(f'kept: {rel(override)}: current '
                                     f'for {rel(patch)}')
                        continue
            lines += errors
        return lines

    def check_overrides(self):
        """Problems with this release's overrides."""
        rel, pin = self.sources.rel, self.sources.pin
        override_dir = self.sources.override_dir
        if pin.default and override_dir.exists():
            return [f'{rel(override_dir)}: the default release '
                    f'takes the series as it is; it has no overrides']
        problems = []
        series = {t: p for p, t in self.sources.base_patches()}
        for target, path in self.sources.overrides().items():
            name = rel(path)
            if target not in series:
                problems.append(f'{name}: overrides no patch of the series '
                                f'(patches/{target}.patch)')
                continue
            header = parse_patch(path.read_text())[0]
            m = PORT_RE.search(header)
            if not m:
                problems.append(f'{name}: the header must start "' +
                                PORT_LINE.format(
                                    patch=rel(series[target]),
                                    digest='<sha256[:12]>',
                                    name=pin.name,
                                    version=pin.version) + '"')
            elif m.group(2) != digest(series[target]):
                problems.append(
                    f'{name}: stale: {rel(series[target])} changed '
                    f'since it was ported; run "patchq port '
                    f'{pin.version}" and "--write" again')
            if HEADER_PLACEHOLDER in header:
                problems.append(f'{name}: the header must say why '
                                f'{pin.version} needs its own hunks')
        return problems

    def driver_differs(self):
        """Driver patches this release changes otherwise than the series.

        The real-hypervisor suite proves the driver on the default
        release; a release whose driver patches differ must run it too.
        """
        return [t for t in self.sources.overrides()
                if t.startswith(DRIVER_PATHS) and not self.same_change(t)]

    def same_change(self, target):
        """Whether this release changes ``target`` as the series does."""
        override = self.sources.overrides().get(target)
        if override is None:
            return True
        base = self.sources.patch_dir / (target + '.patch')
        return (change_lines(parse_patch(override.read_text())[1]) ==
                change_lines(parse_patch(base.read_text())[1]))

    def write(self, tree):
        """Write this release's overrides from a ported tree.

        A patched file gets an override when the series' patch does not
        give it exactly: it does not apply as it is, or the tree changed
        it otherwise. Returns (written, removed).
        """
        tree = pathlib.Path(tree)
        rel, pin = self.sources.rel, self.sources.pin
        override_dir = self.sources.override_dir
        if not (tree / '.git').exists():
            raise QueueError(f'{tree} is not a materialized tree; run '
                             f'"port {pin.version}" first')
        rejects = sorted(str(p.relative_to(tree)) for p in tree.rglob('*.rej'))
        if rejects:
            raise QueueError('fix the hunks left in these files, then '
                             'delete them: ' + ', '.join(rejects))
        upstream = self.sources.upstream_dir()
        series = self.sources.base_patches()
        existing = self.sources.overrides()
        written, removed = [], []
        with tempfile.TemporaryDirectory(prefix='patchq-') as scratch:
            for patch, target in series:
                if not (upstream / target).is_file():
                    # The release has no such file (nova 29.x has no
                    # pyproject.toml): only a hand-written override of
                    # the file that holds its content can port it.
                    path = override_dir / (target + '.patch')
                    if self.moved(path, tree):
                        continue
                    raise QueueError(
                        f'{target}: this release has no such file; where '
                        f'it keeps that content in another file, write '
                        f'{rel(path)} by hand as a patch of that file')
                dest = pathlib.Path(scratch) / target
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(upstream / target, dest)
                clean = not self.applier.apply_patch(patch, target, scratch)
                if clean and dest.read_bytes() == (tree / target
                                                   ).read_bytes():
                    if target in existing:
                        existing[target].unlink()
                        removed.append(existing[target])
                    continue
                diff = git('diff', '--no-color', '--no-ext-diff', 'upstream',
                           '--', target, cwd=tree)
                path = override_dir / (target + '.patch')
                if not diff:
                    moved = self.moved(path, tree)
                    if moved:
                        continue
                    raise QueueError(
                        f'{target}: unchanged in {tree}, but the series '
                        f'changes it; where this release keeps that content '
                        f'in another file, write {rel(path)} by hand '
                        f'as a patch of that file')
                header = PORT_LINE.format(
                    patch=rel(patch), digest=digest(patch),
                    name=pin.name, version=pin.version) + '\n'
                old = (PORT_RE.sub('', parse_patch(path.read_text())[0])
                       if path.exists() else '')
                old = '\n'.join(
                    line for line in old.splitlines() if line.strip())
                same = change_lines(diff) == change_lines(
                    parse_patch(patch.read_text())[1])
                if same:
                    header += SAME_CHANGE
                elif old and old + '\n' != SAME_CHANGE:
                    header += old + '\n'
                else:
                    header += HEADER_PLACEHOLDER + '\n'
                text = header + diff
                if not path.exists() or path.read_text() != text:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
                    written.append(path)
        for directory in sorted(override_dir.rglob('*'), reverse=True):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        return written, removed

    def moved(self, override, tree):
        """Whether a hand-written override of another file holds ``tree``.

        That is an override whose diff changes a file other than its
        patch's, exactly as the tree does.
        """
        override_dir = self.sources.override_dir
        if not override.exists():
            return False
        _, diff, changed, _ = parse_patch(override.read_text())
        if len(changed) != 1:
            return False
        other = next(iter(changed))
        return override.relative_to(override_dir).as_posix() != (
            other + '.patch') and diff == git(
                'diff', '--no-color', '--no-ext-diff', 'upstream', '--',
                other, cwd=tree)
