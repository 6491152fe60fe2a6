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

The tool is this command line and :class:`Queue`, which puts together
the parts: pins and sources (``patchq_sources``), applying
(``patchq_apply``), checking (``patchq_check``), overrides and porting
(``patchq_port``), packaging (``patchq_dist``) and the queue's own version
(``patchq_version``), all on what they share (``patchq_common``).

Only the standard library is used, so the tool runs before any virtualenv
exists.
"""

import argparse
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys

from patchq_apply import Applier
from patchq_check import Checker
from patchq_check import COPY_WINDOW
from patchq_check import is_seam
from patchq_check import seam_budget
from patchq_common import git
from patchq_common import HEADER_PLACEHOLDER
from patchq_common import parse_patch
from patchq_common import QueueError
from patchq_common import ROOT
from patchq_common import sha256_of
from patchq_dist import build_dist
from patchq_dist import install
from patchq_dist import Packager
from patchq_port import Porter
from patchq_port import SAME_CHANGE
from patchq_sources import add_pin
from patchq_sources import load_pin
from patchq_sources import load_pins
from patchq_sources import Pin
from patchq_sources import PLUGINS
from patchq_sources import Sources
from patchq_version import bump
from patchq_version import check_version
from patchq_version import queue_digest
from patchq_version import QUEUE_DIRS
from patchq_version import QUEUE_FILES
from patchq_version import recorded_queue

#: What the other tools and the tests take from here, wherever it lives.
__all__ = ('COPY_WINDOW', 'HEADER_PLACEHOLDER', 'PLUGINS', 'Pin', 'Queue',
           'QueueError', 'ROOT', 'SAME_CHANGE', 'build_dist', 'bump',
           'check_version', 'git', 'install', 'is_seam', 'load_pin',
           'load_pins', 'main', 'parse_patch', 'port', 'queue_digest',
           'recorded_queue')


class Queue(Sources):
    """One pinned release's queue, and all the tool does with it.

    Its :class:`Sources` (the pin, upstream, the overlay, the series and
    the release's overrides), and a facade for the parts that work on
    them: applying (:class:`Applier`), checking (:class:`Checker`),
    overrides and porting (:class:`Porter`) and packaging
    (:class:`Packager`). Each method below is one of theirs.
    """

    def __init__(self, root=ROOT, pin=None, cache=None):
        super().__init__(root, pin=pin, cache=cache)
        self.applier = Applier(self)
        self.porter = Porter(self, self.applier)
        self.checker = Checker(self, self.applier, self.porter)
        self.packager = Packager(self)

    def apply_patch(self, patch, target, tree, keep_rejects=False,
                    fuzz=False):
        return self.applier.apply_patch(patch, target, tree,
                                        keep_rejects=keep_rejects, fuzz=fuzz)

    def materialize(self, tree, force=False, keep_going=False, port=False):
        """Build the patched tree as a git repository at ``tree``.

        ``port`` applies the series without this release's overrides,
        with fuzz, and keeps going: the start of a port, which returns
        what it reports (:meth:`Porter.start`).
        """
        if port:
            return self.porter.start(tree, force=force)
        return self.applier.materialize(tree, force=force,
                                        keep_going=keep_going)

    def unexported(self, tree):
        return self.applier.unexported(tree)

    def refresh(self, tree, dry_run=False):
        return self.applier.refresh(tree, dry_run=dry_run)

    def check(self):
        return self.checker.check()

    def seams(self):
        return self.checker.seams()

    def driver_differs(self):
        return self.porter.driver_differs()

    def same_change(self, target):
        return self.porter.same_change(target)

    def port_write(self, tree):
        return self.porter.write(tree)

    def dist(self, tree, outdir):
        return self.packager.dist(tree, outdir)

    def dist_plugin(self, directory, outdir):
        return self.packager.dist_plugin(directory, outdir)


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
        print(f'wrote {queue.rel(path)}')
    for path in removed:
        print(f'removed {queue.rel(path)} (the series applies as it is)')
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


def find_python(version):
    """The interpreter of Python ``version`` ("X.Y") here, as a path.

    ``pythonX.Y`` on PATH where it runs (a pyenv shim of a version pyenv
    has not selected does not), else the newest X.Y.* pyenv has.
    """
    pyenv = pathlib.Path(os.environ.get('PYENV_ROOT', '~/.pyenv'))
    installed = sorted(
        pyenv.expanduser().glob(f'versions/{version}.*/bin/python{version}'),
        key=lambda p: [int(n) if n.isdigit() else -1
                       for n in p.parents[1].name.split('.')],
        reverse=True)
    for candidate in [shutil.which(f'python{version}')] + installed:
        if not candidate:
            continue
        proc = subprocess.run(
            [str(candidate), '-c', 'import sys; print("%d.%d" % '
             'sys.version_info[:2], sys.executable)'],
            capture_output=True, text=True)
        found = proc.stdout.split()
        if proc.returncode == 0 and found[:1] == [version]:
            return found[1]
    raise QueueError(f'no Python {version} here (python{version} on PATH, '
                     f'or pyenv install {version})')


def default_tree(pin):
    """build/tree for the default release, build/tree-<version> else."""
    return 'build/tree' if pin.default else f'build/tree-{pin.version}'


def check_all(root):
    """The "check" command, on every pinned release; returns the status."""
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
    return 0


def build_parser():
    """The command line: one subcommand per thing the tool does."""
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
    sub.add_parser('cells', help='list the release x Python cells of CI',
                   description='Print "<release> <X.Y>" for every Python '
                   'upstream.toml lists for every release, the default '
                   'release first, each release\'s own Python first.')
    p = sub.add_parser('python', help='the path of a Python X.Y',
                       description='Print the path of a Python X.Y '
                       'interpreter here (PATH, then pyenv).')
    p.add_argument('python_version', metavar='X.Y')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
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
        if args.command == 'python':
            print(find_python(args.python_version))
            return 0
        if args.command == 'cells':
            for p in load_pins(root):
                for python in p.pythons:
                    print(p.version, python)
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
                print(f'wrote {queue.rel(path)}')
            for path in removed:
                print(f'removed {queue.rel(path)} (no change left)')
            for w in warnings:
                print(f'warning: {w}', file=sys.stderr)
            if not written and not removed:
                print('patches/ is up to date')
            if any(HEADER_PLACEHOLDER in p.read_text() for p in written):
                print('new patches have a placeholder header: say why '
                      'each upstream file must change', file=sys.stderr)
        elif args.command == 'check':
            return check_all(root)
        elif args.command == 'dist':
            built = queue.dist(tree, root / args.outdir)
            for directory in PLUGINS:
                built += queue.dist_plugin(directory, root / args.outdir)
            for path in built:
                print(queue.rel(path))
    except QueueError as e:
        print(f'patchq: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
