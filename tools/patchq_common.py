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

"""What every part of the patch-queue tool shares.

Its error, the repository root, running git, digests of files, and the
format of a patch file: a header saying why, then a git diff.
"""

import dataclasses
import hashlib
import os
import pathlib
import re
import subprocess

try:
    import tomllib
except ImportError:  # Python 3.10, 29.4.0's: "make" installs tomli there
    import tomli as tomllib  # noqa: F401 (the others import it here)

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Every patch starts with a header saying why the upstream file must change.
#: ``refresh`` writes this placeholder for a new patch and ``check`` refuses
#: it until a human has replaced it.
HEADER_PLACEHOLDER = '# FIXME: say why this upstream file must change.'
GIT_USER = ('-c', 'user.name=XLoud patch queue',
            '-c', 'user.email=patchq@xloud.invalid')


class QueueError(Exception):
    """A failure with a short message meant for the user."""


def change_lines(diff):
    """The lines a diff removes and adds, without their context."""
    return [line for line in diff.splitlines()
            if line[:1] in '+-' and not line.startswith(('+++', '---'))]


def digest(path):
    """The first 12 digits of a file's sha256, as an override names it."""
    return sha256_of(path)[:12]


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def git(*args, cwd, check=True, env=None):
    """Run git in ``cwd`` and return its stdout."""
    full_env = dict(os.environ, GIT_CONFIG_NOSYSTEM='1', LC_ALL='C')
    if env:
        full_env.update(env)
    proc = subprocess.run(('git',) + GIT_USER + args, cwd=cwd, env=full_env,
                          capture_output=True, text=True)
    if check and proc.returncode:
        raise QueueError(f'git {" ".join(args)} failed in {cwd}:\n'
                         f'{proc.stderr.strip()}')
    return proc.stdout


@dataclasses.dataclass
class Hunk:
    """One hunk of a patch: its number (from 1) and its "@@" line."""
    number: int
    header: str


def parse_patch(text):
    """Split a patch file into (header, diff, target path, hunks)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith('diff --git '):
            break
    else:
        raise QueueError('no "diff --git" line')
    header = ''.join(lines[:i])
    diff = ''.join(lines[i:])
    targets = set()
    for line in lines[i:]:
        m = re.match(r'diff --git a/(\S+) b/(\S+)$', line.rstrip('\n'))
        if m:
            targets.update(m.groups())
    hunks = [Hunk(n, line.rstrip('\n'))
             for n, line in enumerate(
                 (x for x in lines[i:] if x.startswith('@@ ')), start=1)]
    return header, diff, targets, hunks
