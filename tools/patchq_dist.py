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

"""Packaging: the patched packages, and ours installed editable.

:class:`Packager` builds a release's wheel and sdist from its
materialized tree, and the plugins' at the same version;
:func:`install` installs our packages editable so that our version
reaches them and nothing else.
"""

import os
import pathlib
import subprocess
import sys

from patchq_common import git
from patchq_common import QueueError
from patchq_sources import load_pins
from patchq_sources import PLUGINS

#: pbr would rewrite upstream's AUTHORS and ChangeLog from the tree's git
#: history (two commits of ours); keep upstream's as they are. Nor does it
#: run reno into the sdist where reno is installed, as builds without
#: isolation find it (upstream's notes fail reno's scan of our tree).
PBR_ENV = {'SKIP_GENERATE_AUTHORS': '1', 'SKIP_WRITE_GIT_CHANGELOG': '1',
           'SKIP_GENERATE_RENO': '1'}
#: The variables pbr takes a package's version from, in place of git's or
#: PKG-INFO's. Any pbr package pip builds while one is set gets our version
#: (and pip then discards it), so they are set only for commands that
#: build our packages and nothing else (install(), build_dist()).
VERSION_ENV = ('PBR_VERSION', 'OSLO_PACKAGE_VERSION')


class Packager:
    """Builds one release's packages (:class:`Sources`)."""

    def __init__(self, sources):
        self.sources = sources

    def dist(self, tree, outdir):
        """Build the wheel and sdist of the tree into ``outdir``."""
        tree = pathlib.Path(tree)
        outdir = pathlib.Path(outdir)
        if not (tree / '.git').exists():
            raise QueueError(f'{tree} is not a materialized tree; run "tree"')
        dirty = git('status', '--porcelain', cwd=tree)
        if dirty.strip():
            raise QueueError(f'{tree} has uncommitted edits; refresh and '
                             f'rebuild the tree before building packages')
        return build_dist(tree, outdir, self.sources.pin.name, 'packages',
                          self.sources.pin.local_version)

    def dist_plugin(self, directory, outdir):
        """Build the wheel and sdist of one of PLUGINS into ``outdir``.

        The version is the patched packages' own (upstream.toml), so a
        release of the queue names one set of packages.
        """
        default = load_pins(self.sources.root)[0]
        return build_dist(self.sources.root / directory, pathlib.Path(outdir),
                          PLUGINS[directory], directory,
                          default.local_version, shared=True,
                          SKIP_GIT_SDIST='1')


def build_dist(source, outdir, prefix, what, version, shared=False,
               **env):
    """Build ``source``'s wheel and sdist as ``version``.

    Earlier builds of the same upstream release are replaced, and
    other releases' packages stay beside them; a ``shared`` package
    (one for every release) replaces all its earlier builds.

    :returns: [wheel, sdist] paths in ``outdir``
    """
    outdir.mkdir(parents=True, exist_ok=True)
    earlier = f'{prefix}-*' if shared else (
        f'{prefix}-{version.split("+")[0]}+*')
    for old in outdir.glob(earlier):
        old.unlink()
    # No build isolation: that would run pip with our PBR_VERSION set
    # (see VERSION_ENV); the backends are in this virtualenv already.
    env = dict(os.environ, PBR_VERSION=version, **PBR_ENV, **env)
    proc = subprocess.run(
        [sys.executable, '-m', 'build', '--no-isolation', '--sdist',
         '--wheel', '--outdir', str(outdir), str(source)], env=env,
        capture_output=True, text=True)
    if proc.returncode:
        raise QueueError(f'building {what} failed:\n'
                         f'{(proc.stdout + proc.stderr)[-3000:]}')
    built = [outdir / f'{prefix}-{version}-py3-none-any.whl',
             outdir / f'{prefix}-{version}.tar.gz']
    missing = [str(p) for p in built if not p.exists()]
    if missing:
        raise QueueError(f'build did not produce {", ".join(missing)}')
    return built


def without_version(env):
    """``env`` without VERSION_ENV: for pip commands that may build others."""
    return {k: v for k, v in env.items() if k not in VERSION_ENV}


def install(editables, version, pip_args=(), python=sys.executable):
    """Install ``editables``, ours, editable at ``version``, and their needs.

    Two pip commands, so that our version reaches our packages only:

    1. every dependency: each editable's requirements.txt and ``pip_args``
       (requirements, constraints), with no VERSION_ENV variable set, so a
       pbr dependency that pip builds from its sdist (testresources 2.0.2
       is published as nothing else) gets its own version;
    2. the editables, with PBR_VERSION set, ``--no-deps`` and
       ``--no-build-isolation``: pip resolves nothing and builds nothing
       else, not even a build environment (step 1 installed the backend).

    :param editables: source directories of our pbr packages
    :param pip_args: further arguments to step 1's "pip install"
    :raises QueueError: if a pip command fails
    """
    pip = [python, '-m', 'pip', '--disable-pip-version-check', 'install']
    deps = []
    for directory in editables:
        reqs = pathlib.Path(directory) / 'requirements.txt'
        if reqs.exists():
            deps += ['-r', str(reqs)]
    steps = [
        (pip + deps + ['pbr', 'setuptools>=77', 'wheel'] + list(pip_args),
         without_version(os.environ)),
        (pip + ['-q', '--no-deps', '--no-build-isolation'] +
         [x for d in editables for x in ('-e', str(d))],
         dict(os.environ, PBR_VERSION=version, **PBR_ENV)),
    ]
    for cmd, env in steps:
        proc = subprocess.run(cmd, env=env)
        if proc.returncode:
            raise QueueError(f'"{" ".join(cmd)}" failed '
                             f'(exit {proc.returncode})')
