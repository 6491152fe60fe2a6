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

"""The queue's own version: "+xloud.N" must name exactly one queue.

``upstream.toml`` records N and, beside it, the digest of the queue it
names; "bump" records a changed queue as N + 1, and "check-version"
proves that no N ever named two.
"""

import hashlib
import pathlib
import re

from patchq_common import git
from patchq_common import QueueError
from patchq_common import sha256_of
from patchq_common import tomllib
from patchq_sources import load_pins
from patchq_sources import OVERLAY_DIRS
from patchq_sources import OVERRIDES
from patchq_sources import PLUGINS
from patchq_sources import Sources

#: What makes a release of the queue: the pins, and every file of ours
#: that goes into a package or decides what goes in.
QUEUE_DIRS = OVERLAY_DIRS + ('patches', OVERRIDES) + tuple(PLUGINS)
#: and xloud-nova, the in-place patcher, which carries N too
QUEUE_FILES = ('tools/xloud_nova.py', 'tools/inplace.py')
_XLOUD_TABLE = re.compile(r'(?ms)^\[xloud\]\n.*?(?=^\[|\Z)')


def queue_digest(root):
    """The sha256 of the queue in ``root``, as "+xloud.N" names it."""
    root = pathlib.Path(root)
    h = hashlib.sha256()
    for pin in sorted(load_pins(root), key=lambda p: p.version):
        h.update(f'pin {pin.name} {pin.version} {pin.sha256}\n'.encode())
    sources = Sources(root, pin=load_pins(root)[0])
    for name in sources.repo_files():
        if name.split('/', 1)[0] in QUEUE_DIRS or name in QUEUE_FILES:
            h.update(f'{name} {sha256_of(root / name)}\n'.encode())
    return h.hexdigest()


def recorded_queue(text):
    """(N, digest) of the [xloud] table of an upstream.toml's text."""
    try:
        xloud = tomllib.loads(text)['xloud']
        return int(xloud['release']), xloud.get('queue')
    except (KeyError, ValueError, TypeError, tomllib.TOMLDecodeError):
        return None, None


def check_version(root):
    """Problems with "+xloud.N": it must name exactly one queue.

    The digest recorded beside N must be the queue's, and no N may have
    named another queue in the history of upstream.toml: main's own, its
    first parents. A branch's numbers until it merges name no release
    (only main lands); its merge bumps past them.
    """
    root = pathlib.Path(root)
    path = root / 'upstream.toml'
    release, recorded = recorded_queue(path.read_text())
    problems = []
    actual = queue_digest(root)
    if recorded != actual:
        problems.append(
            f'the queue changed since xloud {release} was recorded in '
            f'upstream.toml: run "make bump" in the commit that changes it, '
            f'so that its packages get a version of their own')
    if not (root / '.git').exists():
        return problems
    seen = {release: ('the working tree', recorded)}
    out = git('log', '--first-parent', '--format=%H', '--',
              'upstream.toml', cwd=root,
              check=False)
    for commit in out.split():
        text = git('show', f'{commit}:upstream.toml', cwd=root, check=False)
        n, digest = recorded_queue(text)
        if n is None or digest is None:
            continue  # before versions were recorded
        where, other = seen.setdefault(n, (commit[:12], digest))
        if other != digest:
            problems.append(f'xloud {n} names two queues: {where} and '
                            f'{commit[:12]} record different digests; bump '
                            f'to a number never used')
            seen[n] = (commit[:12], digest)
    return problems


def bump(root):
    """Record the queue as the next release, N + 1: returns N + 1."""
    path = pathlib.Path(root) / 'upstream.toml'
    text = path.read_text()
    release, _digest = recorded_queue(text)
    table = _XLOUD_TABLE.search(text)
    if release is None or table is None:
        raise QueueError(f'{path}: no [xloud] release to bump')
    body = re.sub(r'(?m)^release = \d+$', f'release = {release + 1}',
                  table.group(0))
    line = f'queue = "{queue_digest(root)}"'
    if re.search(r'(?m)^queue = ', body):
        body = re.sub(r'(?m)^queue = .*$', line, body)
    else:
        body = body.rstrip('\n') + '\n' + line + '\n\n'
    path.write_text(text[:table.start()] + body + text[table.end():])
    return release + 1
