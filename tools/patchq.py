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
turns that, plus the pinned upstream sdist, into a patched tree and into
packages, and turns edits made in the tree back into patches.

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
#: In TESTS_MAP, a stage of "make check" that proves a patched file no unit
#: test covers, such as a documentation index that only a doc build reads.
STAGE_TESTS = {'@docs': 'the docs stage: sphinx-build -W of the tree'}
#: What builds and test runs leave in a materialized tree.
TREE_GENERATED = ('*.egg-info/', '.eggs/', '__pycache__/', '*.py[co]',
                  '.stestr/', '.tox/', '/build/', '/dist/', '/cover/',
                  '/.coverage*', '/instances/')
#: pbr would rewrite upstream's AUTHORS and ChangeLog from the tree's git
#: history (two commits of ours); keep upstream's as they are.
PBR_ENV = {'SKIP_GENERATE_AUTHORS': '1', 'SKIP_WRITE_GIT_CHANGELOG': '1'}
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

    @property
    def local_version(self):
        return f'{self.version}+xloud.{self.release}'

    @property
    def sdist_name(self):
        return f'{self.name}-{self.version}.tar.gz'


def load_pin(root):
    path = pathlib.Path(root) / 'upstream.toml'
    try:
        with open(path, 'rb') as f:
            data = tomllib.load(f)
        up = data['upstream']
        return Pin(up['name'], up['version'], up['sha256'].lower(),
                   int(data['xloud']['release']))
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as e:
        raise QueueError(f'{path}: cannot read the upstream pin: {e}')


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

    def patches(self):
        """(patch path, upstream path) pairs, in the fixed apply order."""
        return [(p, p.relative_to(self.patch_dir).as_posix()[:-len('.patch')])
                for p in sorted(self.patch_dir.rglob('*.patch'))]

    def tests_map(self):
        """Upstream file -> upstream unit-test modules covering it."""
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

    def apply_patch(self, patch, target, tree, keep_rejects=False):
        """Apply one patch in ``tree``; return a list of error lines."""
        try:
            header, _, targets, hunks = parse_patch(patch.read_text())
        except QueueError as e:
            return [f'{self._rel(patch)}: {e}']
        if targets != {target}:
            return [f'{self._rel(patch)}: must change exactly {target}, '
                    f'but changes {", ".join(sorted(targets)) or "nothing"}']
        if not (pathlib.Path(tree) / target).is_file():
            return [f'{self._rel(patch)}: upstream has no file {target}']
        proc = subprocess.run(
            ['git', 'apply', '--reject', '--verbose', '--whitespace=nowarn',
             str(patch)], cwd=tree, capture_output=True, text=True,
            env=dict(os.environ, LC_ALL='C'))
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

    def _rel(self, path):
        try:
            return pathlib.Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- commands ----------------------------------------------------------

    def collisions(self, upstream_files=None):
        upstream_files = upstream_files or self.upstream_files()
        return [n for n in self.overlay_files() if n in upstream_files]

    def materialize(self, tree, force=False, keep_going=False):
        """Build the patched tree as a git repository at ``tree``."""
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
        problems += self.copies(upstream_files)
        try:
            mapping = self.tests_map()
        except QueueError as e:
            return problems + [str(e)]
        targets = {t for _, t in patches}
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
        return self._build(tree, outdir, self.pin.name, 'packages')

    def dist_plugin(self, directory, outdir):
        """Build the wheel and sdist of one of PLUGINS into ``outdir``.

        The version is the patched packages' own (upstream.toml), so a
        release of the queue names one set of packages.
        """
        return self._build(self.root / directory, pathlib.Path(outdir),
                           PLUGINS[directory], directory,
                           SKIP_GIT_SDIST='1')

    def _build(self, source, outdir, prefix, what, **env):
        """Build ``source``'s wheel and sdist, versioned from the pin.

        :returns: [wheel, sdist] paths in ``outdir``
        """
        outdir.mkdir(parents=True, exist_ok=True)
        for old in outdir.glob(f'{prefix}-*'):
            old.unlink()
        env = dict(os.environ, PBR_VERSION=self.pin.local_version,
                   **PBR_ENV, **env)
        proc = subprocess.run(
            [sys.executable, '-m', 'build', '--sdist', '--wheel',
             '--outdir', str(outdir), str(source)], env=env,
            capture_output=True, text=True)
        if proc.returncode:
            raise QueueError(f'building {what} failed:\n'
                             f'{(proc.stdout + proc.stderr)[-3000:]}')
        version = self.pin.local_version
        built = [outdir / f'{prefix}-{version}-py3-none-any.whl',
                 outdir / f'{prefix}-{version}.tar.gz']
        missing = [str(p) for p in built if not p.exists()]
        if missing:
            raise QueueError(f'build did not produce {", ".join(missing)}')
        return built


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='patchq', description=__doc__.split('\n\n')[0],
        epilog='Run "%(prog)s COMMAND --help" for the options of a command.')
    parser.add_argument('--root', default=str(ROOT),
                        help='the repository (default: %(default)s)')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('fetch', help='download and verify the upstream sdist',
                       description='Download the pinned upstream sdist into '
                       '.cache/upstream/ and verify its sha256.')
    p = sub.add_parser(
        'tree', help='materialize the patched tree',
        description='Unpack upstream into TREE as a git repository (commit '
        'tagged "upstream"), overlay the new files, apply patches/ in '
        'sorted order and commit (tag "xloud").')
    p.add_argument('--tree', default='build/tree', help='default: %(default)s')
    p.add_argument('--force', action='store_true',
                   help='discard uncommitted edits in an existing tree')
    p.add_argument('--upstream-version', metavar='VERSION',
                   help='try the queue against another upstream release; '
                   'its hash is printed, not verified')
    p.add_argument('--keep-going', action='store_true',
                   help='apply every hunk that applies and leave *.rej '
                   'files for the rest')
    p = sub.add_parser(
        'refresh', help='regenerate patches/ from the tree',
        description='Write one patch per changed upstream file from the '
        "tree's diff against its upstream commit, keeping each patch's "
        'header; delete patches that became empty.')
    p.add_argument('--tree', default='build/tree', help='default: %(default)s')
    p = sub.add_parser(
        'check', help='check the queue is sound',
        description='Check that every patch applies to pristine upstream '
        'and has a header and upstream tests, that no overlay file has an '
        'upstream path, and that no committed file copies upstream.')
    p = sub.add_parser(
        'dist', help='build the patched wheel and sdist, and the plugin\'s',
        description='Build nova-<version>+xloud.N wheel and sdist from the '
        'materialized tree, and the wheel and sdist of the OpenStackClient '
        'plugin (xloud-osc/) at the same version (needs the "build" '
        'package).')
    p.add_argument('--tree', default='build/tree', help='default: %(default)s')
    p.add_argument('--outdir', default='dist', help='default: %(default)s')
    p = sub.add_parser('version', help='print the local version',
                       description='Print <upstream version>+xloud.N.')

    args = parser.parse_args(argv)
    root = pathlib.Path(args.root).resolve()
    try:
        pin = load_pin(root)
        cache = None
        if getattr(args, 'upstream_version', None):
            pin = dataclasses.replace(pin, version=args.upstream_version)
            queue = Queue(root, pin=pin, cache=cache)
            sdist = queue.cache / pin.sdist_name
            try:
                queue.fetch()
            except QueueError:
                if not sdist.exists():
                    raise
                # Not pinned, so a mismatch is expected: report the hash.
            pin = dataclasses.replace(pin, sha256=sha256_of(sdist))
            print(f'trying {sdist.name} (sha256 {pin.sha256}, not pinned)')
        queue = Queue(root, pin=pin, cache=cache)
        if args.command == 'fetch':
            print(queue.fetch())
        elif args.command == 'version':
            print(pin.local_version)
        elif args.command == 'tree':
            tree = queue.materialize(root / args.tree, force=args.force,
                                     keep_going=args.keep_going)
            print(f'{tree}: {pin.name} {pin.version} + '
                  f'{len(queue.overlay_files())} new files + '
                  f'{len(queue.patches())} patches')
        elif args.command == 'refresh':
            written, removed, warnings = queue.refresh(root / args.tree)
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
            problems = queue.check()
            for p in problems:
                print(p, file=sys.stderr)
            if problems:
                return 1
            print(f'ok: {len(queue.patches())} patches apply to '
                  f'{pin.name} {pin.version}; '
                  f'{len(queue.overlay_files())} overlay files, none with '
                  f'an upstream path; no file copies upstream')
        elif args.command == 'dist':
            built = queue.dist(root / args.tree, root / args.outdir)
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
