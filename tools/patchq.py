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

"""The XLoud Nova patch-queue tool.

The repository holds only what XLoud wrote: new files (the *overlay*, under
``nova/``, ``doc/``, ``api-ref/`` and ``releasenotes/``) and one patch per
upstream file we must edit (``patches/<upstream path>.patch``).  This tool
turns that, plus a pinned upstream sdist, into a patched tree and into
packages, and turns edits made in the tree back into patches.

One series serves every release ``upstream.toml`` pins. Where a release
needs a hunk of its own, ``overrides/<release>/<upstream path>.patch``
replaces that one patch for that release and nothing else; ``port`` writes
them.

Only the standard library is used, so the tool runs before any virtualenv
exists.
"""

import argparse
import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Top-level directories whose files are overlaid onto the upstream tree.
OVERLAY_DIRS = ('nova', 'doc', 'api-ref', 'releasenotes')
#: Every patch starts with a header saying why the upstream file must change.
#: ``refresh`` writes this placeholder for a new patch and ``check`` refuses
#: it until a human has replaced it.
HEADER_PLACEHOLDER = '# FIXME: say why this upstream file must change.'
#: A window of this many significant lines shared with an upstream file
#: counts as a copy of a large piece of it.
COPY_WINDOW = 12
#: Files with fewer significant lines than this are too small to be a copy
#: (empty ``__init__.py`` and the like).
COPY_MIN_LINES = 4
TESTS_MAP = 'upstream-tests.txt'
#: Per-release replacements of single patches: <dir>/<release>/<path>.patch
OVERRIDES = 'overrides'
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
#: In TESTS_MAP, a stage of "make check" that proves a patched file no unit
#: test covers, such as a documentation index that only a doc build reads.
STAGE_TESTS = {'@docs': 'the docs stage: sphinx-build -W of the tree'}
#: What builds and test runs leave in a materialized tree.
TREE_GENERATED = ('*.egg-info/', '.eggs/', '__pycache__/', '*.py[co]',
                  '.stestr/', '.tox/', '/build/', '/dist/', '/cover/',
                  '/.coverage*', '/instances/')
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
#: The other distributions this repository holds, each in a directory of
#: its own and versioned like the patched packages: directory -> the
#: distribution's file-name prefix. Their sdists list their files
#: themselves (MANIFEST.in), not from this repository's git.
PLUGINS = {'xloud-osc': 'xloud_osc'}
GIT_USER = ('-c', 'user.name=XLoud patch queue',
            '-c', 'user.email=patchq@xloud.invalid')


class QueueError(Exception):
    """A failure with a short message meant for the user."""


@dataclasses.dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str
    release: int
    series: str = ''
    default: bool = True

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
                    rel.get('series', ''), version == default)
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
    queue = Queue(root, pin=load_pins(root)[0])
    for name in queue.repo_files():
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
    named another queue in the history of upstream.toml.
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
    out = git('log', '--format=%H', '--', 'upstream.toml', cwd=root,
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


def change_lines(diff):
    """The lines a diff removes and adds, without their context."""
    return [line for line in diff.splitlines()
            if line[:1] in '+-' and not line.startswith(('+++', '---'))]


def digest(path):
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


class Queue:

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
        return [n for n in self.repo_files()
                if n.split('/', 1)[0] in OVERLAY_DIRS]

    def base_patches(self):
        """The series: (patch path, upstream path), in the apply order."""
        return [(p, p.relative_to(self.patch_dir).as_posix()[:-len('.patch')])
                for p in sorted(self.patch_dir.rglob('*.patch'))]

    @property
    def override_dir(self):
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
        return mapping

    # -- applying patches --------------------------------------------------

    def apply_patch(self, patch, target, tree, keep_rejects=False,
                    fuzz=False):
        """Apply one patch in ``tree``; return a list of error lines.

        With ``fuzz``, a patch that does not apply unchanged is applied
        again to the untouched file with one line of context ("git apply
        -C1"), and what that takes is reported as "fuzz: ..." lines.
        """
        try:
            header, _, targets, hunks = parse_patch(patch.read_text())
        except QueueError as e:
            return [f'{self._rel(patch)}: {e}']
        if targets != {target}:
            return [f'{self._rel(patch)}: must change exactly {target}, '
                    f'but changes {", ".join(sorted(targets)) or "nothing"}']
        path = pathlib.Path(tree) / target
        if not path.is_file():
            return [f'{self._rel(patch)}: upstream has no file {target}']
        original = path.read_bytes()
        proc = self._git_apply(patch, tree)
        if proc.returncode and fuzz:
            path.write_bytes(original)
            pathlib.Path(str(path) + '.rej').unlink(missing_ok=True)
            proc = self._git_apply(patch, tree, '-C1')
            if proc.returncode == 0:
                return [f'fuzz: {self._rel(patch)}: applied with one line '
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
            return [f'{self._rel(patch)}: {target}: git apply failed: '
                    f'{proc.stderr.strip()}']
        return [f'{self._rel(patch)}: {target}: hunk #{h.number} '
                f'({h.header}) does not apply'
                for h in hunks if h.number in rejected]

    @staticmethod
    def _git_apply(patch, tree, *options):
        return subprocess.run(
            ['git', 'apply', '--reject', '--verbose', '--whitespace=nowarn',
             *options, str(patch)], cwd=tree, capture_output=True,
            text=True, env=dict(os.environ, LC_ALL='C'))

    def _rel(self, path):
        try:
            return pathlib.Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- commands ----------------------------------------------------------

    def collisions(self, upstream_files=None):
        upstream_files = upstream_files or self.upstream_files()
        return [n for n in self.overlay_files() if n in upstream_files]

    def materialize(self, tree, force=False, keep_going=False, port=False):
        """Build the patched tree as a git repository at ``tree``.

        ``port`` applies the series without this release's overrides,
        with fuzz, and keeps going: the start of a port.
        """
        keep_going = keep_going or port
        tree = pathlib.Path(tree)
        if (tree / '.git').exists() and not force:
            pending = self.unexported(tree)
            if pending:
                raise QueueError(
                    f'{tree} has edits that patches/ and the overlay do not '
                    f'hold; run "refresh" to keep them, or pass --force to '
                    f'throw them away:\n  ' + '\n  '.join(pending))
        upstream = self.upstream_dir()
        upstream_files = self.upstream_files()
        collisions = self.collisions(upstream_files)
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
        git('commit', '--quiet', '--no-verify', '-m',
            f'upstream {self.pin.name} {self.pin.version}', cwd=tree)
        git('tag', 'upstream', cwd=tree)
        for name in self.overlay_files():
            dest = tree / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.root / name, dest)
        errors = []
        if port:
            return self._port_patches(tree)
        for patch, target in self.patches():
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
            f'xloud {self.pin.local_version}: overlay and patches', cwd=tree)
        git('tag', 'xloud', cwd=tree)
        return tree

    def _port_patches(self, tree):
        """Apply the series to a port's tree; return what it reports.

        A patch that fails even with fuzz, but has a current override
        (ported from the series patch as it is now), takes the override:
        a port then asks for hand work only where the series changed.
        """
        overrides = self.overrides()
        lines = []
        for patch, target in self.base_patches():
            path = pathlib.Path(tree) / target
            original = path.read_bytes() if path.is_file() else None
            errors = self.apply_patch(patch, target, tree,
                                      keep_rejects=True, fuzz=True)
            override = overrides.get(target)
            failed = [e for e in errors if not e.startswith('fuzz: ')]
            if failed and override and original is not None:
                header, _, changed, _ = parse_patch(override.read_text())
                m = PORT_RE.search(header)
                if m and m.group(2) == digest(patch) and len(changed) == 1:
                    path.write_bytes(original)
                    pathlib.Path(str(path) + '.rej').unlink(missing_ok=True)
                    again = self.apply_patch(override, changed.pop(), tree)
                    if not again:
                        lines.append(f'kept: {self._rel(override)}: current '
                                     f'for {self._rel(patch)}')
                        continue
            lines += errors
        return lines

    def unexported(self, tree):
        """Edits made in ``tree`` that the repository does not hold.

        Only what changed in the tree since it was materialized counts: a
        tree that is merely older than the repository holds no edits.
        """
        upstream = set(git('ls-tree', '-r', '--name-only', 'upstream',
                           cwd=tree).splitlines())
        since = git('diff', '--name-only', 'xloud', cwd=tree,
                    check=False).splitlines()
        patches = {t: p for p, t in self.patches()}
        pending = []
        for name in since:
            if name in upstream:
                diff = git('diff', '--no-color', '--no-ext-diff', 'upstream',
                           '--', name, cwd=tree)
                held = (parse_patch(patches[name].read_text())[1]
                        if name in patches else '')
                if diff != held:
                    pending.append(f'{name}: edited, not in patches/')
            elif not self._same_as_repo(tree, name):
                pending.append(f'{name}: edited in the tree')
        for name in git('ls-files', '--others', '--exclude-standard',
                        cwd=tree).splitlines():
            if not self._same_as_repo(tree, name):
                pending.append(f'{name}: new in the tree')
        return pending

    def _same_as_repo(self, tree, name):
        ours = self.root / name
        return (ours.is_file() and
                ours.read_bytes() == (pathlib.Path(tree) / name).read_bytes())

    def refresh(self, tree, dry_run=False):
        """Regenerate patches/ from the tree's diff against upstream.

        Returns (written, removed, warnings); with ``dry_run`` nothing is
        written and the lists say what would be.
        """
        tree = pathlib.Path(tree)
        if not self.pin.default:
            raise QueueError(
                f'the series is refreshed from a tree of the default release;'
                f' for {self.pin.version}, fix its tree and run "port '
                f'{self.pin.version} --write"')
        if not (tree / '.git').exists():
            raise QueueError(f'{tree} is not a materialized tree; run "tree"')
        upstream = set(git('ls-tree', '-r', '--name-only', 'upstream',
                           cwd=tree).splitlines())
        changed = set(git('diff', '--name-only', 'upstream',
                          cwd=tree).splitlines())
        warnings = []
        written, removed = [], []
        overlay = set(self.overlay_files())
        # Changed since the tree was materialized, but not upstream files:
        # the overlay copies, which are edited in the repository.
        since = set(git('diff', '--name-only', 'xloud', cwd=tree,
                        check=False).splitlines())
        for name in sorted(since - upstream):
            if name in overlay:
                if (tree / name).read_bytes() == (self.root / name
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
        existing = {t: p for p, t in self.patches()}
        for name, diff in wanted.items():
            path = self.patch_dir / (name + '.patch')
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
                while parent != self.patch_dir and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
        return written, removed, warnings

    def copies(self, upstream_files):
        """Repository files that copy an upstream file or a large piece."""
        top = self.upstream_dir()
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
        for name in self.repo_files():
            if name.startswith('patches/'):
                continue  # context lines of upstream are the point there
            data = (self.root / name).read_bytes()
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
                for patch, target in self.patches() if is_seam(target)}

    def check(self):
        """Return a list of problems with the queue (empty when sound)."""
        problems = []
        upstream = self.upstream_dir()
        upstream_files = self.upstream_files()
        patches = self.patches()
        for name in self.collisions(upstream_files):
            problems.append(f'{name}: overlay file collides with the '
                            f'upstream file of the same path')
        with tempfile.TemporaryDirectory(prefix='patchq-') as scratch:
            for patch, target in patches:
                try:
                    header = parse_patch(patch.read_text())[0]
                except QueueError as e:
                    problems.append(f'{self._rel(patch)}: {e}')
                    continue
                if (not header.strip() or
                        HEADER_PLACEHOLDER in header):
                    problems.append(f'{self._rel(patch)}: the header must '
                                    f'say why {target} changes')
                if target not in upstream_files:
                    problems.append(f'{self._rel(patch)}: upstream has no '
                                    f'file {target}')
                    continue
                dest = pathlib.Path(scratch) / target
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(upstream / target, dest)
                problems += self.apply_patch(patch, target, scratch)
        problems += self.check_overrides()
        problems += self.copies(upstream_files)
        try:
            mapping = self.tests_map()
        except QueueError as e:
            return problems + [str(e)]
        targets = {t for _, t in self.base_patches()}
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

    def check_overrides(self):
        """Problems with this release's overrides."""
        if self.pin.default and self.override_dir.exists():
            return [f'{self._rel(self.override_dir)}: the default release '
                    f'takes the series as it is; it has no overrides']
        problems = []
        series = {t: p for p, t in self.base_patches()}
        for target, path in self.overrides().items():
            name = self._rel(path)
            if target not in series:
                problems.append(f'{name}: overrides no patch of the series '
                                f'(patches/{target}.patch)')
                continue
            header = parse_patch(path.read_text())[0]
            m = PORT_RE.search(header)
            if not m:
                problems.append(f'{name}: the header must start "' +
                                PORT_LINE.format(
                                    patch=self._rel(series[target]),
                                    digest='<sha256[:12]>',
                                    name=self.pin.name,
                                    version=self.pin.version) + '"')
            elif m.group(2) != digest(series[target]):
                problems.append(
                    f'{name}: stale: {self._rel(series[target])} changed '
                    f'since it was ported; run "patchq port '
                    f'{self.pin.version}" and "--write" again')
            if HEADER_PLACEHOLDER in header:
                problems.append(f'{name}: the header must say why '
                                f'{self.pin.version} needs its own hunks')
        return problems

    def driver_differs(self):
        """Driver patches this release changes otherwise than the series.

        The real-hypervisor suite proves the driver on the default
        release; a release whose driver patches differ must run it too.
        """
        return [t for t in self.overrides()
                if t.startswith(DRIVER_PATHS) and not self.same_change(t)]

    def same_change(self, target):
        """Whether this release changes ``target`` as the series does."""
        override = self.overrides().get(target)
        if override is None:
            return True
        base = self.patch_dir / (target + '.patch')
        return (change_lines(parse_patch(override.read_text())[1]) ==
                change_lines(parse_patch(base.read_text())[1]))

    def port_write(self, tree):
        """Write this release's overrides from a ported tree.

        A patched file gets an override when the series' patch does not
        give it exactly: it does not apply as it is, or the tree changed
        it otherwise. Returns (written, removed).
        """
        tree = pathlib.Path(tree)
        if not (tree / '.git').exists():
            raise QueueError(f'{tree} is not a materialized tree; run '
                             f'"port {self.pin.version}" first')
        rejects = sorted(str(p.relative_to(tree)) for p in tree.rglob('*.rej'))
        if rejects:
            raise QueueError('fix the hunks left in these files, then '
                             'delete them: ' + ', '.join(rejects))
        upstream = self.upstream_dir()
        series = self.base_patches()
        existing = self.overrides()
        written, removed = [], []
        with tempfile.TemporaryDirectory(prefix='patchq-') as scratch:
            for patch, target in series:
                dest = pathlib.Path(scratch) / target
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(upstream / target, dest)
                clean = not self.apply_patch(patch, target, scratch)
                if clean and dest.read_bytes() == (tree / target
                                                   ).read_bytes():
                    if target in existing:
                        existing[target].unlink()
                        removed.append(existing[target])
                    continue
                diff = git('diff', '--no-color', '--no-ext-diff', 'upstream',
                           '--', target, cwd=tree)
                path = self.override_dir / (target + '.patch')
                if not diff:
                    moved = self._moved(path, tree)
                    if moved:
                        continue
                    raise QueueError(
                        f'{target}: unchanged in {tree}, but the series '
                        f'changes it; where this release keeps that content '
                        f'in another file, write {self._rel(path)} by hand '
                        f'as a patch of that file')
                header = PORT_LINE.format(
                    patch=self._rel(patch), digest=digest(patch),
                    name=self.pin.name, version=self.pin.version) + '\n'
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
        for directory in sorted(self.override_dir.rglob('*'), reverse=True):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        return written, removed

    def _moved(self, override, tree):
        """Whether a hand-written override of another file holds ``tree``.

        That is an override whose diff changes a file other than its
        patch's, exactly as the tree does.
        """
        if not override.exists():
            return False
        _, diff, changed, _ = parse_patch(override.read_text())
        if len(changed) != 1:
            return False
        other = next(iter(changed))
        return override.relative_to(self.override_dir).as_posix() != (
            other + '.patch') and diff == git(
                'diff', '--no-color', '--no-ext-diff', 'upstream', '--',
                other, cwd=tree)

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
        return build_dist(tree, outdir, self.pin.name, 'packages',
                          self.pin.local_version)

    def dist_plugin(self, directory, outdir):
        """Build the wheel and sdist of one of PLUGINS into ``outdir``.

        The version is the patched packages' own (upstream.toml), so a
        release of the queue names one set of packages.
        """
        default = load_pins(self.root)[0]
        return build_dist(self.root / directory, pathlib.Path(outdir),
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


def unpinned(root, version):
    """A Queue for a release upstream.toml does not pin (yet)."""
    default = load_pins(root)[0]
    pin = dataclasses.replace(default, version=version, sha256='',
                              series='', default=False)
    queue = Queue(root, pin=pin)
    sdist = queue.cache / pin.sdist_name
    try:
        queue.fetch()
    except QueueError:
        if not sdist.exists():
            raise
    queue.pin = dataclasses.replace(pin, sha256=sha256_of(sdist))
    return queue


def port(root, version, tree, write=False):
    """The "port" command; returns the exit status."""
    pins = {p.version: p for p in load_pins(root)}
    queue = (Queue(root, pin=pins[version]) if version in pins
             else unpinned(root, version))
    pin = queue.pin
    if not write:
        lines = queue.materialize(tree, force=True, port=True)
        fuzz = [x[len('fuzz: '):] for x in lines if x.startswith('fuzz: ')]
        kept = [x[len('kept: '):] for x in lines if x.startswith('kept: ')]
        failed = [x for x in lines
                  if not x.startswith(('fuzz: ', 'kept: '))]
        print(f'{tree}: {pin.name} {pin.version} (sha256 {pin.sha256}) + '
              f'the series, without overrides')
        for x in kept:
            print(f'  override kept: {x}')
        for x in fuzz:
            print(f'  applied with fuzz: {x}')
        for x in failed:
            print(f'  FAILED: {x}')
        print(f'{len(queue.base_patches())} patches: {len(kept)} by their '
              f'current override, {len(fuzz)} applied with fuzz, '
              f'{len(failed)} hunks failed.')
        print(f'Fix each failed hunk in {tree} (its *.rej beside it; '
              f'delete the .rej), review the fuzzy ones, then run '
              f'"patchq port {version} --write".')
        return 0
    written, removed = queue.port_write(tree)
    for path in written:
        print(f'wrote {queue._rel(path)}')
    for path in removed:
        print(f'removed {queue._rel(path)} (the series applies as it is)')
    if version not in pins:
        add_pin(root, pin)
        print(f'pinned {pin.version} in upstream.toml (sha256 {pin.sha256});'
              f' set its series there')
    if any(HEADER_PLACEHOLDER in p.read_text() for p in written):
        print('overrides that change other lines than the series have a '
              'placeholder header: say why', file=sys.stderr)
    if not pathlib.Path(root, pin.constraints).exists():
        print(f'{pin.constraints} is missing: derive it as the README says',
              file=sys.stderr)
    return 0


def default_tree(pin):
    """build/tree for the default release, build/tree-<version> else."""
    return 'build/tree' if pin.default else f'build/tree-{pin.version}'


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='patchq', description=__doc__.split('\n\n')[0],
        epilog='Run "%(prog)s COMMAND --help" for the options of a command.')
    parser.add_argument('--root', default=str(ROOT),
                        help='the repository (default: %(default)s)')
    parser.add_argument('--release', metavar='VERSION',
                        help='the pinned nova release to work on (default: '
                        '$NOVA, else the default release of upstream.toml)')
    sub = parser.add_subparsers(dest='command', required=True)
    tree_help = 'default: build/tree, or build/tree-<release> for another'

    p = sub.add_parser('fetch', help='download and verify the upstream sdist',
                       description='Download the pinned upstream sdist into '
                       '.cache/upstream/ and verify its sha256.')
    p = sub.add_parser(
        'tree', help='materialize the patched tree',
        description='Unpack upstream into TREE as a git repository (commit '
        'tagged "upstream"), overlay the new files, apply the series '
        '(patches/, with the release\'s overrides/) in sorted order and '
        'commit (tag "xloud").')
    p.add_argument('--tree', help=tree_help)
    p.add_argument('--force', action='store_true',
                   help='discard uncommitted edits in an existing tree')
    p.add_argument('--keep-going', action='store_true',
                   help='apply every hunk that applies and leave *.rej '
                   'files for the rest')
    p = sub.add_parser(
        'refresh', help='regenerate patches/ from the tree',
        description='Write one patch per changed upstream file from the '
        "tree's diff against its upstream commit, keeping each patch's "
        'header; delete patches that became empty. Only for the default '
        'release; other releases take "port --write".')
    p.add_argument('--tree', help=tree_help)
    p = sub.add_parser(
        'check', help='check the queue is sound on every release',
        description='For every pinned release: check that every patch (or '
        'its override) applies to pristine upstream and has a header and '
        'upstream tests, that overrides are current and driver overrides '
        'change what the series changes, that no overlay file has an '
        'upstream path, and that no committed file copies upstream.')
    p = sub.add_parser(
        'port', help='port the queue to another release',
        description='Without --write: unpack VERSION into TREE (default '
        'build/port-VERSION) and apply the series to it, with fuzz where '
        'a hunk does not apply as it is, or the current override where one '
        'is ported from the patch as it is now; list each hunk that still '
        'fails (its *.rej is left beside the file). Fix those in TREE, '
        'then run with --write: it writes overrides/VERSION/ for every '
        'patch the series does not give exactly, and pins VERSION in '
        'upstream.toml.')
    p.add_argument('version', metavar='VERSION')
    p.add_argument('--tree', help='default: build/port-VERSION')
    p.add_argument('--write', action='store_true',
                   help='write the overrides from the fixed TREE')
    p = sub.add_parser(
        'dist', help='build the patched wheel and sdist, and the plugin\'s',
        description='Build nova-<version>+xloud.N wheel and sdist from the '
        'materialized tree, and the wheel and sdist of the OpenStackClient '
        'plugin (xloud-osc/) at the same version (needs the "build" '
        'package).')
    p.add_argument('--tree', help=tree_help)
    p.add_argument('--outdir', default='dist', help='default: %(default)s')
    p = sub.add_parser(
        'install', help='install the tree editable, with what it needs',
        description='Install TREE (and each --editable) editable into this '
        'Python\'s environment at the local version, in two pip commands: '
        'first every dependency (their requirements.txt and PIP_ARGS, such '
        'as "-c constraints/<release>.txt -r TREE/test-requirements.txt"), '
        'with no PBR_VERSION set, so that a pbr dependency built from its '
        'sdist keeps its own version; then ours alone, with PBR_VERSION, '
        '--no-deps and --no-build-isolation.')
    p.add_argument('--tree', help=tree_help)
    p.add_argument('--editable', action='append', default=[],
                   metavar='DIR', help='another package of ours (repeatable)')
    p.add_argument('pip_args', nargs=argparse.REMAINDER, metavar='PIP_ARGS',
                   help='after "--": arguments to the dependencies\' '
                   '"pip install"')
    sub.add_parser('version', help='print the local version',
                   description='Print <upstream version>+xloud.N.')
    sub.add_parser(
        'check-version', help='check that xloud N names one queue',
        description='Check that the digest upstream.toml records beside '
        'xloud N is the queue\'s (the pins, every file under ' +
        ', '.join(f'{d}/' for d in QUEUE_DIRS) + ', and ' +
        ', '.join(QUEUE_FILES) + '), and that no N '
        'named another queue in the history of upstream.toml.')
    sub.add_parser(
        'bump', help='record the queue as release N + 1',
        description='Set xloud N to N + 1 in upstream.toml, and record the '
        'queue\'s digest beside it. Run it in every commit that changes '
        'the queue.')
    sub.add_parser('releases', help='list the pinned releases',
                   description='Print the pinned releases, the default '
                   'first, one per line.')

    args = parser.parse_args(argv)
    root = pathlib.Path(args.root).resolve()
    try:
        if args.command == 'port':
            tree = root / (args.tree or f'build/port-{args.version}')
            return port(root, args.version, tree, write=args.write)
        if args.command == 'check-version':
            problems = check_version(root)
            for p in problems:
                print(p, file=sys.stderr)
            if not problems:
                print(f'ok: xloud {load_pins(root)[0].release} names this '
                      f'queue, and no other')
            return 1 if problems else 0
        if args.command == 'bump':
            print(f'xloud {bump(root)}: {queue_digest(root)}')
            return 0
        pin = load_pin(root, args.release)
        queue = Queue(root, pin=pin)
        tree = root / (getattr(args, 'tree', None) or default_tree(pin))
        if args.command == 'fetch':
            print(queue.fetch())
        elif args.command == 'version':
            print(pin.local_version)
        elif args.command == 'install':
            pip_args = args.pip_args
            if pip_args[:1] == ['--']:
                pip_args = pip_args[1:]
            install([tree] + [root / d for d in args.editable],
                    pin.local_version, pip_args)
        elif args.command == 'releases':
            for p in load_pins(root):
                print(p.version)
        elif args.command == 'tree':
            queue.materialize(tree, force=args.force,
                              keep_going=args.keep_going)
            overrides = len(queue.overrides())
            overridden = f' ({overrides} overridden)' if overrides else ''
            print(f'{tree}: {pin.name} {pin.version} + '
                  f'{len(queue.overlay_files())} new files + '
                  f'{len(queue.patches())} patches{overridden}')
        elif args.command == 'refresh':
            written, removed, warnings = queue.refresh(tree)
            for path in written:
                print(f'wrote {queue._rel(path)}')
            for path in removed:
                print(f'removed {queue._rel(path)} (no change left)')
            for w in warnings:
                print(f'warning: {w}', file=sys.stderr)
            if not written and not removed:
                print('patches/ is up to date')
            if any(HEADER_PLACEHOLDER in p.read_text() for p in written):
                print('new patches have a placeholder header: say why '
                      'each upstream file must change', file=sys.stderr)
        elif args.command == 'check':
            failed = False
            budget = seam_budget(root)
            for pin in load_pins(root):
                queue = Queue(root, pin=pin)
                problems = queue.check()
                seams = queue.seams()
                print(f'seams: {pin.name} {pin.version}: '
                      f'{sum(seams.values())} changed lines in '
                      f'{len(seams)} upstream files (budget {budget})')
                if sum(seams.values()) > budget:
                    widest = sorted(seams.items(), key=lambda s: -s[1])[:3]
                    problems.append(
                        f'the patches change {sum(seams.values())} lines '
                        f'of upstream code, over the budget of {budget} '
                        f'(upstream.toml, [seams]); the most: ' +
                        ', '.join(f'{t} {n}' for t, n in widest) +
                        '. Move the logic into our modules and leave a '
                        'call.')
                for p in problems:
                    print(f'{pin.version}: {p}', file=sys.stderr)
                failed = failed or bool(problems)
                if problems:
                    continue
                overrides = queue.overrides()
                same = sum(queue.same_change(t) for t in overrides)
                print(f'ok: {pin.name} {pin.version}: '
                      f'{len(queue.patches())} patches apply '
                      f'({len(overrides)} overridden, {same} of them the '
                      f'same change in other context); '
                      f'{len(queue.overlay_files())} overlay files, none '
                      f'with an upstream path; no file copies upstream')
            if failed:
                return 1
        elif args.command == 'dist':
            built = queue.dist(tree, root / args.outdir)
            for directory in PLUGINS:
                built += queue.dist_plugin(directory, root / args.outdir)
            for path in built:
                print(queue._rel(path))
    except QueueError as e:
        print(f'patchq: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
