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

"""xloud-nova: apply XLoud Nova to an installed upstream Nova, in place.

For deployments that run upstream's packages (kolla-style containers) and
patch their site-packages rather than install our wheel:

  xloud-nova apply  --target SITE_PACKAGES [--dry-run]
  xloud-nova status --target SITE_PACKAGES
  xloud-nova revert --target SITE_PACKAGES [--dry-run]

"apply" refuses unless the installed Nova is a release we support and
every file it touches is byte for byte that release's upstream file (or
already ours). It backs each original up, writes every file atomically
(a temporary file beside it, then a rename), adds our entry points to
Nova's installed metadata and records what it did in a manifest. Our new
modules are written before the upstream files that import them (and
removed only after those are upstream again), so a crash part-way, or a
service that starts meanwhile, finds each file either upstream or ours and
everything ours imports in place; "apply" or "revert" run again finish the
job. Only one "apply" or "revert" runs on a target at a time; another is
refused. A file that is a symlink stays one: it is patched, and given
back, where it points. "revert" gives back upstream byte for byte.

This file is self-contained: it needs Python 3.9+ and nothing else. The
build ("tools/inplace.py build", run by "make dist") embeds the hashes,
edits and new files of every supported release as PAYLOAD.
"""

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import time
import zlib

#: Embedded by the build: compressed JSON (see tools/inplace.py), or a dict
#: in tests. None in the source file.
PAYLOAD = None

#: Where the command keeps its state, inside the target site-packages.
STATE_DIR = '.xloud-nova'
MANIFEST = 'manifest.json'
JOURNAL = 'journal.json'
BACKUP = 'backup'
#: The prefix of the temporary files of atomic writes; any left by a crash
#: are removed by the next run.
TMP_PREFIX = '.xloud-tmp-'
#: Which Nova services load which of the files we change (by path prefix).
#: nova/conf, nova/objects and nova/version.py are loaded by every service.
SERVICES = (
    ('nova/api/', ('nova-api',)),
    ('nova/policies/', ('nova-api',)),
    ('nova/compute/api.py', ('nova-api', 'nova-conductor')),
    ('nova/compute/manager.py', ('nova-compute',)),
    ('nova/compute/resource_tracker.py', ('nova-compute',)),
    ('nova/virt/', ('nova-compute',)),
    ('nova/scheduler/', ('nova-scheduler', 'nova-api', 'nova-conductor')),
    ('nova/cmd/manage.py', ('nova-manage',)),
    ('nova/xloud/', ('nova-api', 'nova-conductor', 'nova-scheduler',
                     'nova-compute')),
    ('nova/conf/', ('nova-api', 'nova-conductor', 'nova-scheduler',
                    'nova-compute')),
    ('nova/objects/', ('nova-api', 'nova-conductor', 'nova-scheduler',
                       'nova-compute')),
    ('nova/notifications/', ('nova-api', 'nova-conductor',
                             'nova-scheduler', 'nova-compute')),
    ('nova/version.py', ('nova-api', 'nova-conductor', 'nova-scheduler',
                         'nova-compute')),
)
SERVICE_ORDER = ('nova-api', 'nova-conductor', 'nova-scheduler',
                 'nova-compute', 'nova-manage')


class Refused(Exception):
    """The command will not go on; the message says why, for the user."""


def payload():
    data = PAYLOAD
    if data is None:
        raise Refused('this is the source of xloud-nova, without the data '
                      'of any release; run the xloud-nova that "make dist" '
                      'builds (dist/xloud-nova)')
    if isinstance(data, str):
        data = json.loads(zlib.decompress(base64.b64decode(data)))
    return data


def newest_first(versions):
    return sorted(versions, reverse=True, key=lambda v: tuple(
        int(n) for n in re.findall(r'[0-9]+', v)))


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def edit(data, edits):
    """Apply ``edits``, [[first line, end line, [new lines]], ...].

    The line numbers count in ``data``, 0-based, end exclusive, in order;
    lines are latin-1 strings, so every byte maps back as it was.
    """
    lines = data.decode('latin-1').splitlines(keepends=True)
    out = []
    at = 0
    for first, end, new in edits:
        out.extend(lines[at:first])
        out.extend(new)
        at = end
    out.extend(lines[at:])
    return ''.join(out).encode('latin-1')


def atomic_write(path, data, like=None, mtime=None):
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers see the old file or the new one, never a part of either. The
    new file takes the mode (and, as root, the owner) of the file ``like``,
    and ``mtime`` where given.
    """
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if like is not None:
            st = os.stat(like)
            os.chmod(tmp, st.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    sync_dir(directory)


def float32(value):
    return struct.unpack('f', struct.pack('f', value))[0]


def later_mtime(path):
    """An mtime for ``path``'s next content that stevedore cannot miss.

    stevedore (which loads Nova's extra-spec validators) caches entry
    points in ~/.cache/python-entrypoints, keyed by each entry_points.txt's
    mtime packed as a 32-bit float: 128 s steps today. Rewritten within
    the step of its last mtime, the file would be read from the cache as
    it was: after a quick revert, our validators, which no longer import
    (nova-api fails to start); after apply, without them. So the new mtime
    is now, or the start of the step after the file's: every rewrite gets
    a step of its own, later than any the file had (runs in quick
    succession move it one step, 128 s, ahead each).
    """
    old = float32(os.stat(path).st_mtime)
    new = max(time.time(), old)
    while float32(new) <= old:
        new = int(new) + 1
    return new


def sync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def parse_version(text):
    m = re.search(r'^Version:\s*(\S+)\s*$', text, re.M)
    return m.group(1) if m else None


def entry_lines(eps):
    """Our entry points as (group, line) pairs, in a stable order."""
    return [(group, f'{name} = {value}')
            for group in sorted(eps) for name, value in sorted(
                eps[group].items())]


def add_entry_points(text, eps):
    """``text`` of an entry_points.txt with ``eps`` added to their groups."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += '\n'
    for group, line in entry_lines(eps):
        name, value = line.split(' = ', 1)
        if entry_state(''.join(lines), {group: {name: value}}) == 'patched':
            continue
        start = None
        for i, x in enumerate(lines):
            if x.strip() == f'[{group}]':
                start = i
                break
        if start is None:
            if lines and lines[-1].strip():
                lines.append('\n')
            lines += [f'[{group}]\n', line + '\n']
            continue
        end = start + 1
        last = start
        while end < len(lines) and not lines[end].startswith('['):
            if lines[end].strip():
                last = end
            end += 1
        lines.insert(last + 1, line + '\n')
    return ''.join(lines)


def remove_entry_points(text, eps):
    """``text`` of an entry_points.txt without the lines of ``eps``."""
    ours = {line for _, line in entry_lines(eps)}
    out = []
    group = None
    for x in text.splitlines(keepends=True):
        s = x.strip()
        if s.startswith('[') and s.endswith(']'):
            group = s[1:-1]
        elif group in eps and ' '.join(s.split()) in ours:
            continue
        out.append(x)
    return ''.join(out)


def entry_state(text, eps):
    """'patched', 'upstream' or 'partial': which of ``eps`` ``text`` has."""
    found = set()
    group = None
    for x in text.splitlines():
        s = x.strip()
        if s.startswith('[') and s.endswith(']'):
            group = s[1:-1]
        elif group in eps and '=' in s:
            name, value = (p.strip() for p in s.split('=', 1))
            if eps[group].get(name) == value:
                found.add((group, name))
    wanted = {(g, n) for g in eps for n in eps[g]}
    if found == wanted:
        return 'patched'
    return 'partial' if found else 'upstream'


class Target:
    """An installed Nova: a site-packages directory holding ``nova/``."""

    def __init__(self, root, backup=None):
        self.root = os.path.abspath(root)
        if not os.path.isfile(os.path.join(self.root, 'nova',
                                           '__init__.py')):
            raise Refused(f'{self.root} holds no nova package (nova/'
                          f'__init__.py); --target names the site-packages '
                          f'directory that holds nova/')
        self.state = os.path.join(self.root, STATE_DIR)
        self.data = payload()
        self.metadata, self.version = self.find_metadata()
        self.release = self.supported()
        journal = self.load(JOURNAL) or {}
        manifest = self.load(MANIFEST) or {}
        self.backup = os.path.abspath(
            backup or journal.get('backup') or manifest.get('backup') or
            os.path.join(self.state, BACKUP))

    def path(self, rel):
        return os.path.join(self.root, *rel.split('/'))

    def real_path(self, rel):
        """Where a file's content lives: a symlink is written through."""
        return os.path.realpath(self.path(rel))

    def find_metadata(self):
        """(metadata directory, version) of the installed nova."""
        found = []
        for name in sorted(os.listdir(self.root)):
            m = re.match(r'^nova-([^-]+?)(-py[0-9.]+)?\.(dist-info|egg-info)$',
                         name, re.I)
            if not m or not os.path.isdir(os.path.join(self.root, name)):
                continue
            meta = os.path.join(self.root, name,
                                'METADATA' if m.group(3) == 'dist-info'
                                else 'PKG-INFO')
            version = m.group(1)
            if os.path.isfile(meta):
                with open(meta, encoding='utf-8', errors='replace') as f:
                    version = parse_version(f.read()) or version
            found.append((os.path.join(self.root, name), version))
        if len(found) > 1:
            raise Refused(f'{self.root} holds the metadata of more than one '
                          f'nova: ' + ', '.join(
                              os.path.basename(d) for d, _ in found))
        if not found:
            raise Refused(f'{self.root} has nova/ but no nova-*.dist-info '
                          f'or nova-*.egg-info: cannot tell the installed '
                          f'release or register our entry points')
        return found[0]

    def supported(self):
        releases = self.data['releases']
        names = ', '.join(newest_first(releases))
        if '+xloud' in self.version:
            raise Refused(f'nova {self.version} is XLoud Nova\'s own '
                          f'package: it needs no patching in place')
        if self.version not in releases:
            raise Refused(f'nova {self.version} is not supported; '
                          f'xloud-nova {self.data["xloud"]} supports nova '
                          f'{names}')
        return releases[self.version]

    @property
    def local_version(self):
        return f'{self.version}+xloud.{self.data["xloud"]}'

    @property
    def entry_points_file(self):
        return os.path.join(self.metadata, 'entry_points.txt')

    # -- state ------------------------------------------------------------

    def load(self, name):
        path = os.path.join(self.state, name)
        if not os.path.exists(path):
            return None
        with open(path, encoding='utf-8') as f:
            return json.load(f)

    def save(self, name, data):
        os.makedirs(self.state, exist_ok=True)
        atomic_write(os.path.join(self.state, name),
                     (json.dumps(data, indent=1, sort_keys=True) +
                      '\n').encode())

    def drop(self, name):
        path = os.path.join(self.state, name)
        if os.path.exists(path):
            os.unlink(path)

    def file_state(self, f):
        """'upstream', 'patched', 'drifted' or 'missing' for file ``f``."""
        path = self.path(f['path'])
        if not os.path.isfile(path):
            return 'upstream' if f['upstream'] is None else 'missing'
        digest = sha256_file(path)
        if digest == f['patched']:
            return 'patched'
        if digest == f['upstream']:
            return 'upstream'
        return 'drifted'

    def survey(self):
        """{path: state} of every file, and the entry points' state."""
        states = {f['path']: self.file_state(f)
                  for f in self.release['files']}
        eps = self.release['entry_points']
        if os.path.isfile(self.entry_points_file):
            with open(self.entry_points_file, encoding='utf-8') as f:
                ep = entry_state(f.read(), eps)
        else:
            ep = 'missing' if eps else 'upstream'
        return states, ep

    def leftovers(self):
        """Temporary files a crashed run left in the directories we use."""
        dirs = {os.path.dirname(self.real_path(f['path']))
                for f in self.release['files']}
        dirs |= {self.metadata, self.state}
        found = []
        for d in sorted(dirs):
            if os.path.isdir(d):
                found += [os.path.join(d, n) for n in os.listdir(d)
                          if n.startswith(TMP_PREFIX)]
        return found

    def refuse_drift(self, states, ep, doing):
        bad = [f'  {p}: {"missing" if s == "missing" else "modified"} '
               f'(its sha256 is neither nova {self.version}\'s nor ours)'
               for p, s in sorted(states.items())
               if s in ('drifted', 'missing')]
        if ep in ('missing', 'partial'):
            epf = os.path.relpath(self.entry_points_file, self.root)
            bad.append(f'  {epf}: {ep} entry points')
        manifest = self.load(MANIFEST) or {}
        if bad and manifest.get('xloud') not in (None, self.data['xloud']):
            bad.append(f'  (xloud {manifest["xloud"]} was applied here '
                       f'{manifest.get("applied", "")}: revert it with the '
                       f'xloud-nova that applied it, then apply this one)')
        if bad:
            raise Refused(f'will not {doing}: local changes in '
                          f'{self.root}; nothing was changed:\n' +
                          '\n'.join(bad))

    def backup_path(self, rel):
        return os.path.join(self.backup, *rel.split('/'))

    def keep_backup(self, src, rel, digest):
        """Copy ``src`` to the backup, unless a good copy is there."""
        dest = self.backup_path(rel)
        if os.path.isfile(dest) and sha256_file(dest) == digest:
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        atomic_write(dest, read(src), like=src)

    def clean_leftovers(self):
        for tmp in self.leftovers():
            os.unlink(tmp)


@contextlib.contextmanager
def exclusive(target, doing):
    """Hold the target for one "apply" or "revert"; refuse a second one.

    The lock is on the site-packages directory itself (flock), so it
    leaves nothing behind and dies with the process that holds it.
    """
    fd = os.open(target.root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(f'will not {doing}: another xloud-nova apply or '
                          f'revert is running on {target.root}; nothing was '
                          f'changed. Run it again once that one has ended')
        yield
    finally:
        os.close(fd)


def blob(data, digest):
    raw = zlib.decompress(base64.b64decode(data['blobs'][digest]))
    if sha256_bytes(raw) != digest:
        raise Refused(f'the embedded file {digest} is corrupt')
    return raw


def services_to_restart(paths):
    services = set()
    for path in paths:
        for prefix, names in SERVICES:
            if path.startswith(prefix):
                services.update(names)
    names = [s for s in SERVICE_ORDER if s in services and s != 'nova-manage']
    kolla = ', '.join(s.replace('-', '_') for s in names)
    return f'{", ".join(names)} (in kolla: the containers {kolla})'


def apply(target, dry_run=False, out=print):
    rel = target.release
    states, ep = target.survey()
    target.refuse_drift(states, ep, 'apply')
    # our new modules first: nothing patched may import what is not there
    todo = sorted((f for f in rel['files'] if states[f['path']] != 'patched'),
                  key=lambda f: f['upstream'] is not None)
    leftovers = target.leftovers()
    journal = target.load(JOURNAL)
    manifest = target.load(MANIFEST)
    if not todo and ep == 'patched' and not journal and not leftovers and (
            manifest and manifest.get('version') == target.version):
        out(f'{target.root}: already patched with xloud '
            f'{target.data["xloud"]} (nova {target.local_version}); '
            f'nothing to do')
        return 0
    for f in todo:
        verb = 'add' if f['upstream'] is None else 'patch'
        out(f'{"would " if dry_run else ""}{verb} {f["path"]}')
    if ep != 'patched':
        out(f'{"would " if dry_run else ""}add entry points to '
            f'{os.path.relpath(target.entry_points_file, target.root)}: ' +
            ', '.join(f'[{g}] {line}'
                      for g, line in entry_lines(rel['entry_points'])))
    if dry_run:
        out(f'dry run: nova {target.version} in {target.root} is '
            f'unchanged; {len(todo)} files would change, originals backed '
            f'up to {target.backup}')
        return 0
    started = (journal or {}).get('started') or time.strftime(
        '%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    target.save(JOURNAL, {'op': 'apply', 'version': target.version,
                          'xloud': target.data['xloud'],
                          'backup': target.backup, 'started': started})
    target.clean_leftovers()
    for f in todo:
        path = target.path(f['path'])
        if f['upstream'] is None:
            data = blob(target.data, f['patched'])
            like = target.path('nova/__init__.py')
            make_dirs(os.path.dirname(path), like=os.path.dirname(like))
        else:
            target.keep_backup(path, f['path'], f['upstream'])
            data = edit(read(path), f['forward'])
            path = like = target.real_path(f['path'])
            if sha256_bytes(data) != f['patched']:
                raise Refused(f'{f["path"]}: the embedded edits do not give '
                              f'the patched file; this xloud-nova is broken')
        atomic_write(path, data, like)
    if ep != 'patched':
        epf = target.entry_points_file
        with open(epf, encoding='utf-8') as f:
            text = f.read()
        target.keep_backup(epf, os.path.relpath(epf, target.root),
                           sha256_bytes(text.encode()))
        atomic_write(epf, add_entry_points(text, rel['entry_points']).encode(),
                     like=epf, mtime=later_mtime(epf))
    with open(target.entry_points_file, 'rb') as f:
        ep_digest = sha256_bytes(f.read())
    target.save(MANIFEST, {
        'nova': target.version, 'version': target.version,
        'xloud': target.data['xloud'], 'local_version': target.local_version,
        'applied': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'started': started, 'backup': target.backup,
        'files': [{'path': f['path'], 'upstream': f['upstream'],
                   'patched': f['patched']} for f in rel['files']],
        'entry_points': rel['entry_points'],
        'entry_points_file': {
            'path': os.path.relpath(target.entry_points_file, target.root),
            'sha256': ep_digest},
    })
    target.drop(JOURNAL)
    paths = [f['path'] for f in rel['files']]
    out(f'{target.root}: nova {target.version} patched with xloud '
        f'{target.data["xloud"]} ({len(todo)} files written, '
        f'{len(rel["files"])} in all); originals backed up in '
        f'{target.backup}; manifest {os.path.join(target.state, MANIFEST)}')
    out('restart these services where they run from this site-packages: ' +
        services_to_restart(paths))
    return 0


def status(target, out=print):
    states, ep = target.survey()
    manifest = target.load(MANIFEST)
    journal = target.load(JOURNAL)
    drifted = sorted(p for p, s in states.items()
                     if s in ('drifted', 'missing'))
    values = set(states.values())
    if drifted or ep in ('missing', 'partial'):
        out(f'drifted: nova {target.version} in {target.root}; these files '
            f'match neither upstream nor xloud {target.data["xloud"]}:')
        for p in drifted:
            out(f'  {p} ({states[p]})')
        if ep in ('missing', 'partial'):
            out(f'  {os.path.relpath(target.entry_points_file, target.root)}'
                f' ({ep} entry points)')
        return 1
    if values == {'upstream'} and ep == 'upstream' and not journal:
        out(f'upstream: nova {target.version} in {target.root}')
        return 0
    if values == {'patched'} and ep == 'patched' and not journal and manifest:
        out(f'patched with xloud {manifest["xloud"]}: nova '
            f'{target.local_version} in {target.root} (applied '
            f'{manifest["applied"]}; {len(states)} files verified)')
        return 0
    half = sorted(p for p, s in states.items() if s == 'upstream')
    why = (f'an interrupted "{journal["op"]}" (started {journal["started"]})'
           if journal else 'no complete apply recorded')
    out(f'partial: nova {target.version} in {target.root}: {why}; '
        f'{len(half)} of {len(states)} files upstream, the others ours; '
        f'entry points {ep}. Run "apply" or "revert" again to finish.')
    return 1


def revert(target, dry_run=False, out=print):
    rel = target.release
    states, ep = target.survey()
    target.refuse_drift(states, ep, 'revert')
    # the upstream files first: our new modules go only once nothing
    # imports them
    todo = sorted((f for f in rel['files'] if states[f['path']] == 'patched'),
                  key=lambda f: f['upstream'] is None)
    leftovers = target.leftovers()
    if not todo and ep == 'upstream' and not os.path.exists(target.state) \
            and not leftovers:
        out(f'{target.root}: nova {target.version} is upstream; nothing '
            f'to do')
        return 0
    for f in todo:
        if f['upstream'] is None:
            how = 'remove'
        elif os.path.isfile(target.backup_path(f['path'])):
            how = 'restore from backup'
        else:
            how = 'restore by the reverse edits'
        out(f'{"would " if dry_run else ""}{how} {f["path"]}')
    if ep != 'upstream':
        out(f'{"would " if dry_run else ""}remove our entry points from '
            f'{os.path.relpath(target.entry_points_file, target.root)}')
    if dry_run:
        out(f'dry run: nova {target.version} in {target.root} is '
            f'unchanged; {len(todo)} files would be reverted')
        return 0
    if os.path.isdir(target.state):
        target.save(JOURNAL, {'op': 'revert', 'version': target.version,
                              'xloud': target.data['xloud'],
                              'backup': target.backup,
                              'started': time.strftime(
                                  '%Y-%m-%dT%H:%M:%SZ', time.gmtime())})
    target.clean_leftovers()
    for f in todo:
        path = target.path(f['path'])
        if f['upstream'] is None:
            os.unlink(path)
            drop_bytecode(path)
            continue
        backup = target.backup_path(f['path'])
        data = None
        if os.path.isfile(backup):
            data = read(backup)
            if sha256_bytes(data) != f['upstream']:
                data = None
        if data is None:
            data = edit(read(path), f['reverse'])
        if sha256_bytes(data) != f['upstream']:
            raise Refused(f'{f["path"]}: cannot rebuild upstream\'s file')
        real = target.real_path(f['path'])
        atomic_write(real, data, like=real)
    if ep != 'upstream':
        epf = target.entry_points_file
        with open(epf, encoding='utf-8') as f:
            text = f.read()
        data = remove_entry_points(text, rel['entry_points'])
        backup = target.backup_path(os.path.relpath(epf, target.root))
        if os.path.isfile(backup):
            with open(backup, encoding='utf-8') as f:
                kept = f.read()
            if add_entry_points(kept, rel['entry_points']) == text:
                data = kept
        atomic_write(epf, data.encode(), like=epf, mtime=later_mtime(epf))
    for d in sorted(rel['new_dirs'], key=len, reverse=True):
        path = target.path(d)
        pycache = os.path.join(path, '__pycache__')
        if os.path.isdir(pycache):
            shutil.rmtree(pycache)
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
    if os.path.isdir(target.state):
        shutil.rmtree(target.state)
    out(f'{target.root}: nova {target.version} reverted to upstream '
        f'({len(todo)} files); restart the services that loaded it: ' +
        services_to_restart(f['path'] for f in rel['files']))
    return 0


def make_dirs(directory, like):
    """Create ``directory`` and its parents with the mode of ``like``."""
    if os.path.isdir(directory):
        return
    make_dirs(os.path.dirname(directory), like)
    st = os.stat(like)
    os.mkdir(directory)
    os.chmod(directory, st.st_mode & 0o7777)
    if os.geteuid() == 0:
        os.chown(directory, st.st_uid, st.st_gid)


def drop_bytecode(path):
    """Remove the bytecode Python compiled for the source ``path``."""
    directory, name = os.path.split(path)
    stem = name[:-3] if name.endswith('.py') else None
    pycache = os.path.join(directory, '__pycache__')
    if stem is None or not os.path.isdir(pycache):
        return
    for n in os.listdir(pycache):
        if n.startswith(stem + '.') and n.endswith('.pyc') and \
                n.count('.') in (2, 3):
            os.unlink(os.path.join(pycache, n))


def main(argv=None, out=print):
    parser = argparse.ArgumentParser(
        prog='xloud-nova', description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name, text in (
            ('apply', 'verify the installed nova, back it up, patch it'),
            ('status', 'upstream, patched with xloud N, or drifted'),
            ('revert', 'give back upstream byte for byte'),
            ('releases', 'list the supported nova releases')):
        p = sub.add_parser(name, help=text, description=text)
        if name == 'releases':
            continue
        p.add_argument('--target', required=True,
                       help='the site-packages directory that holds nova/')
        if name in ('apply', 'revert'):
            p.add_argument('--dry-run', action='store_true',
                           help='say what would change, change nothing')
        if name == 'apply':
            p.add_argument('--backup-dir',
                           help='where to keep the originals (default: '
                           f'<target>/{STATE_DIR}/{BACKUP})')
    args = parser.parse_args(argv)
    try:
        if args.command == 'releases':
            data = payload()
            for version in newest_first(data['releases']):
                out(f'nova {version}: xloud {data["xloud"]} '
                    f'({data["releases"][version]["series"]})')
            return 0
        target = Target(args.target, getattr(args, 'backup_dir', None))
        if args.command == 'status':
            return status(target, out=out)
        with exclusive(target, args.command):
            if args.command == 'apply':
                return apply(target, args.dry_run, out=out)
            return revert(target, args.dry_run, out=out)
    except Refused as e:
        print(f'xloud-nova: {e}', file=sys.stderr)
        return 2
    except OSError as e:
        print(f'xloud-nova: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
