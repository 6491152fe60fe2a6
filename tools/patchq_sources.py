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

"""Pins and sources: one release of upstream, and what we hold for it.

``upstream.toml`` pins every upstream release the queue serves
(:class:`Pin`); :class:`Sources` is one release's material: the verified
upstream sdist and its pristine tree, and the repository's overlay files,
patch series and that release's overrides.
"""

import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

from patchq_common import git
from patchq_common import parse_patch
from patchq_common import QueueError
from patchq_common import ROOT
from patchq_common import sha256_of
from patchq_common import tomllib

#: Top-level directories whose files are overlaid onto the upstream tree.
OVERLAY_DIRS = ('nova', 'doc', 'api-ref', 'releasenotes')
TESTS_MAP = 'upstream-tests.txt'
#: Per-release replacements of single patches: <dir>/<release>/<path>.patch
OVERRIDES = 'overrides'
#: The other distributions this repository holds, each in a directory of
#: its own and versioned like the patched packages: directory -> the
#: distribution's file-name prefix. Their sdists list their files
#: themselves (MANIFEST.in), not from this repository's git.
PLUGINS = {'xloud-osc': 'xloud_osc'}


@dataclasses.dataclass(frozen=True)
class Pin:
    """One pinned upstream release, from ``upstream.toml``."""
    name: str
    version: str
    sha256: str
    release: int
    series: str = ''
    default: bool = True
    #: The Pythons CI tests this release on ("X.Y"): those kolla ships it
    #: with that upstream supports. The first runs its stages; any other
    #: runs those an interpreter can change (run_checks.py, "cells").
    pythons: tuple = ('3.11',)

    @property
    def local_version(self):
        return f'{self.version}+xloud.{self.release}'

    @property
    def sdist_name(self):
        return f'{self.name}-{self.version}.tar.gz'

    @property
    def constraints(self):
        """The constraints file of this release, relative to the root."""
        return f'constraints/{self.version}.txt'


def load_pins(root):
    """Every pinned release, newest first: [Pin]; the default first."""
    path = pathlib.Path(root) / 'upstream.toml'
    try:
        with open(path, 'rb') as f:
            data = tomllib.load(f)
        up = data['upstream']
        release = int(data['xloud']['release'])
        default = up['default']
        pins = [Pin(up['name'], version, rel['sha256'].lower(), release,
                    rel.get('series', ''), version == default,
                    tuple(rel.get('pythons', Pin.pythons)))
                for version, rel in data['releases'].items()]
    except (OSError, KeyError, ValueError, TypeError, AttributeError,
            tomllib.TOMLDecodeError) as e:
        raise QueueError(f'{path}: cannot read the upstream pins: {e}')
    if default not in {p.version for p in pins}:
        raise QueueError(f'{path}: the default release {default} is not '
                         f'one of [releases]')
    return sorted(pins, key=lambda p: not p.default)


def load_pin(root, version=None):
    """The pin of ``version``, or of $NOVA, or the default release."""
    pins = load_pins(root)
    version = version or os.environ.get('NOVA') or pins[0].version
    for pin in pins:
        if pin.version == version:
            return pin
    raise QueueError(f'nova {version} is not supported; upstream.toml pins '
                     f'{", ".join(p.version for p in pins)}')


def add_pin(root, pin):
    """Add ``pin`` to upstream.toml's [releases], keeping the file as is."""
    path = pathlib.Path(root) / 'upstream.toml'
    text = path.read_text()
    if not text.endswith('\n'):
        text += '\n'
    text += (f'\n[releases."{pin.version}"]\n'
             f'series = "{pin.series}"\n'
             f'sha256 = "{pin.sha256}"\n')
    path.write_text(text)


class Sources:
    """One pinned release's material: upstream, the overlay, the patches.

    ``pin`` may be replaced (a release being ported has no sha256 until
    its sdist is fetched); every part that shares these Sources sees it.
    """

    def __init__(self, root=ROOT, pin=None, cache=None):
        self.root = pathlib.Path(root)
        self.pin = pin or load_pin(self.root)
        self.cache = pathlib.Path(cache or self.root / '.cache' / 'upstream')
        self.patch_dir = self.root / 'patches'

    # -- upstream ---------------------------------------------------------

    def fetch(self):
        """Return the verified upstream sdist, downloading it if needed."""
        sdist = self.cache / self.pin.sdist_name
        if not sdist.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, '-m', 'pip', 'download', '--quiet',
                   '--no-deps', '--no-binary', ':all:', '--dest',
                   str(self.cache), f'{self.pin.name}=={self.pin.version}']
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode or not sdist.exists():
                raise QueueError(f'cannot download {self.pin.sdist_name}: '
                                 f'{proc.stderr.strip()[-500:]}')
        actual = sha256_of(sdist)
        if actual != self.pin.sha256:
            raise QueueError(
                f'{sdist}: sha256 mismatch: upstream.toml pins '
                f'{self.pin.sha256} but the file has {actual}')
        return sdist

    def upstream_dir(self):
        """The pristine upstream tree, extracted once into the cache."""
        top = self.cache / f'{self.pin.name}-{self.pin.version}'
        marker = top / '.xloud-extracted'
        if marker.exists():
            return top
        sdist = self.fetch()
        if top.exists():
            shutil.rmtree(top)
        uid, gid = os.getuid(), os.getgid()

        def owned_by_us(member, dest):
            member = tarfile.data_filter(member, dest)
            return member.replace(uid=uid, gid=gid, uname=None, gname=None)

        with tarfile.open(sdist) as tar:
            tar.extractall(self.cache, filter=owned_by_us)
        if not top.is_dir():
            raise QueueError(f'{sdist} does not unpack to {top.name}/')
        marker.touch()
        return top

    def upstream_files(self):
        """Every file of the pristine upstream tree, relative to it."""
        top = self.upstream_dir()
        return {p.relative_to(top).as_posix() for p in top.rglob('*')
                if p.is_file() and p.name != '.xloud-extracted'}

    # -- what the repository holds ----------------------------------------

    def repo_files(self):
        """Files of the repository: tracked plus untracked, not ignored."""
        if (self.root / '.git').exists():
            out = git('ls-files', '-z', '--cached', '--others',
                      '--exclude-standard', cwd=self.root)
            names = [n for n in out.split('\0') if n]
            return sorted(n for n in names if (self.root / n).is_file())
        return sorted(p.relative_to(self.root).as_posix()
                      for p in self.root.rglob('*') if p.is_file())

    def overlay_files(self):
        """Our new files, which are copied into the tree as they are."""
        return [n for n in self.repo_files()
                if n.split('/', 1)[0] in OVERLAY_DIRS]

    def base_patches(self):
        """The series: (patch path, upstream path), in the apply order."""
        return [(p, p.relative_to(self.patch_dir).as_posix()[:-len('.patch')])
                for p in sorted(self.patch_dir.rglob('*.patch'))]

    @property
    def override_dir(self):
        """Where this release's overrides are: overrides/<version>/."""
        return self.root / OVERRIDES / self.pin.version

    def overrides(self):
        """This release's overrides: upstream path -> patch path."""
        return {p.relative_to(self.override_dir).as_posix()[:-len('.patch')]:
                p for p in sorted(self.override_dir.rglob('*.patch'))}

    def patches(self):
        """What this release applies: the series, with its overrides.

        An override changes the file of the patch it replaces, or, where
        the release keeps that content in another file (entry points in
        setup.cfg rather than pyproject.toml), that file.
        """
        overrides = self.overrides()
        out = []
        for patch, target in self.base_patches():
            if target in overrides:
                patch = overrides[target]
                try:
                    changed = parse_patch(patch.read_text())[2]
                except QueueError:
                    changed = set()
                if len(changed) == 1:
                    target = changed.pop()
            out.append((patch, target))
        return out

    def tests_map(self):
        """Upstream file -> upstream test modules covering it."""
        path = self.root / TESTS_MAP
        mapping = {}
        if not path.exists():
            return mapping
        name = None
        for n, raw in enumerate(path.read_text().splitlines(), start=1):
            line = raw.split('#', 1)[0].rstrip()
            if not line.strip():
                continue
            if line[0].isspace() and name:  # a continuation line
                mapping[name].extend(line.split())
                continue
            if ':' not in line:
                raise QueueError(f'{TESTS_MAP}:{n}: expected '
                                 f'"<upstream file>: <test module> ..."')
            name, modules = line.split(':', 1)
            name = name.strip()
            mapping.setdefault(name, []).extend(modules.split())
        resolved = {}
        for name, modules in mapping.items():
            joined = []  # "a|" at a line's end goes on with the next one
            for module in modules:
                if joined and joined[-1].endswith('|'):
                    joined[-1] += module
                else:
                    joined.append(module)
            resolved[name] = [self.test_module(m) for m in joined]
        return resolved

    def test_module(self, module):
        """The module ``a|b`` names in this release: the first it has.

        Upstream renames and adds test modules between releases; where
        upstream-tests.txt gives alternatives, the first this release's
        sdist has is the one checked and run. With none, ``module`` is
        returned as it is, and "check" says it is missing.
        """
        if '|' not in module:
            return module
        top = self.upstream_dir()
        for alternative in module.split('|'):
            path = top / alternative.replace('.', '/')
            if (path.with_suffix('.py').is_file() or
                    (path / '__init__.py').is_file()):
                return alternative
        return module

    def collisions(self, upstream_files=None):
        """Overlay files that have an upstream file's path."""
        upstream_files = upstream_files or self.upstream_files()
        return [n for n in self.overlay_files() if n in upstream_files]

    def rel(self, path):
        """``path`` relative to the repository, where it is inside."""
        try:
            return pathlib.Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
