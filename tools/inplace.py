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

"""Build xloud-nova, the in-place patcher, and prove it on real installs.

  inplace.py build [--out dist/xloud-nova] [--package DIR]
      For every pinned release: the installed files our queue touches
      (only what a wheel installs, under nova/), their upstream and
      patched sha256, the line edits between them both ways, the new
      files, and the entry points our pyproject.toml / setup.cfg patch
      adds. All of it is embedded in tools/xloud_nova.py, written as one
      self-contained file; --package also builds its wheel and sdist.

  inplace.py check [--release R ...] [--functional PYTHON]
      The "inplace" stage of make check: per release, a clean virtualenv
      with upstream nova==R from PyPI, then apply and status; the patched
      nova/ compared file for file, and the entry points, with our wheel
      of R where make built it; with --functional, our functional tests
      (a smoke set, or --every-test) run from the patched install; then
      revert and a byte-for-byte comparison with the fresh install.
      apply and revert are each also killed half-way and run again.

  inplace.py check --kolla PYTHON [--release R ...]
      The same on a venv laid out as kolla's images lay theirs out:
      PYTHON's venv at build/kolla/nova-R/var/lib/kolla/venv, upstream
      nova==R from PyPI with its dependencies under constraints/R.txt,
      kolla's nova user; owned by root as kolla builds it, then by nova.
      The smoke set runs on it with a second venv of PYTHON holding only
      the test tools; after revert every file, directory and link of the
      venv has the content, mode and owner it had before apply.
"""

import argparse
import base64
import configparser
import difflib
import hashlib
import json
import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import patchq  # noqa: E402
from patchq_common import tomllib  # noqa: E402
import testrun  # noqa: E402

TEMPLATE = pathlib.Path(__file__).resolve().parent / 'xloud_nova.py'
#: What a wheel installs from the tree: the package, tests included.
INSTALLED = 'nova/'
#: Files where packaging metadata is declared, by release.
PACKAGING = ('pyproject.toml', 'setup.cfg')
PAYLOAD_LINE = 'PAYLOAD = None\n'
#: The distribution (and module) that ships the single file.
PACKAGE = 'xloud_nova_inplace'
PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "Apply XLoud Nova to an installed upstream Nova, in place"
readme = "README.rst"
license = "Apache-2.0"
requires-python = ">=3.9"

[project.scripts]
xloud-nova = "{name}:main"

[tool.setuptools]
py-modules = ["{name}"]
"""
#: The functional tests make check runs from the patched install: the
#: flavor extra specs through the REST API (they need the entry points
#: apply added to the installed metadata), and a live adjust and its
#: policy end to end. Every one of ours runs there with
#: XLOUD_INPLACE_FUNCTIONAL=all (95 tests, 10 min on 2 busy cores); nova/
#: being our wheel's file for file is what makes the subset enough.
SMOKE = ('nova.tests.functional.xloud.test_flavor_minimum',
         'nova.tests.functional.libvirt.test_xloud_adjust.AdjustTest.'
         'test_grow_then_shrink',
         'nova.tests.functional.libvirt.test_xloud_adjust.AdjustTest.'
         'test_policy_and_not_found')


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def line_edits(old, new):
    """The edits that turn bytes ``old`` into ``new`` (xloud_nova.edit)."""
    a = old.decode('latin-1').splitlines(keepends=True)
    b = new.decode('latin-1').splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [[i1, i2, b[j1:j2]]
            for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != 'equal']


def entry_points(name, text):
    """{group: {name: value}} declared by pyproject.toml or setup.cfg."""
    if name == 'pyproject.toml':
        project = tomllib.loads(text).get('project', {})
        eps = {g: dict(v) for g, v in project.get('entry-points',
                                                  {}).items()}
        for key, group in (('scripts', 'console_scripts'),
                           ('gui-scripts', 'gui_scripts')):
            if project.get(key):
                eps[group] = dict(project[key])
        return eps
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    eps = {}
    if parser.has_section('entry_points'):
        for group, value in parser.items('entry_points'):
            pairs = [line.split('=', 1) for line in value.splitlines()
                     if '=' in line]
            eps[group] = {k.strip(): v.strip() for k, v in pairs}
    return eps


def added_entry_points(before, after):
    added = {}
    for group, names in after.items():
        for name, value in names.items():
            if before.get(group, {}).get(name) != value:
                added.setdefault(group, {})[name] = value
    return added


def release_payload(queue, blobs):
    """The data xloud-nova needs for ``queue``'s release."""
    upstream = queue.upstream_dir()
    upstream_files = queue.upstream_files()
    files = []
    eps = {}
    with tempfile.TemporaryDirectory(prefix='xloud-inplace-') as tmp:
        tmp = pathlib.Path(tmp)
        for patch, target in queue.patches():
            if not (target.startswith(INSTALLED) or target in PACKAGING):
                continue
            dest = tmp / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(upstream / target, dest)
            errors = queue.apply_patch(patch, target, tmp)
            if errors:
                raise patchq.QueueError('\n'.join(errors))
            old = (upstream / target).read_bytes()
            new = dest.read_bytes()
            if target in PACKAGING:
                eps = added_entry_points(
                    entry_points(target, old.decode()),
                    entry_points(target, new.decode()))
                continue
            files.append({'path': target, 'upstream': sha256(old),
                          'patched': sha256(new),
                          'forward': line_edits(old, new),
                          'reverse': line_edits(new, old)})
    new_dirs = set()
    upstream_dirs = {str(pathlib.PurePosixPath(n).parent)
                     for n in upstream_files}
    for name in queue.overlay_files():
        if not name.startswith(INSTALLED):
            continue
        data = (queue.root / name).read_bytes()
        digest = sha256(data)
        blobs[digest] = base64.b64encode(zlib.compress(data, 9)).decode()
        files.append({'path': name, 'upstream': None, 'patched': digest})
        parent = pathlib.PurePosixPath(name).parent
        while str(parent) not in upstream_dirs and str(parent) != '.':
            new_dirs.add(str(parent))
            parent = parent.parent
    return {'series': queue.pin.series, 'files': files,
            'entry_points': eps, 'new_dirs': sorted(new_dirs)}


def build_payload(root=patchq.ROOT, versions=None):
    pins = patchq.load_pins(root)
    data = {'format': 1, 'xloud': pins[0].release, 'blobs': {},
            'releases': {}}
    for pin in pins:
        if versions and pin.version not in versions:
            continue
        queue = patchq.Queue(root, pin=pin)
        data['releases'][pin.version] = release_payload(queue, data['blobs'])
    return data


def render(data):
    """The text of the single-file command, with ``data`` embedded."""
    text = TEMPLATE.read_text()
    if text.count(PAYLOAD_LINE) != 1:
        raise patchq.QueueError(f'{TEMPLATE}: no single "{PAYLOAD_LINE}"')
    packed = base64.b64encode(zlib.compress(
        json.dumps(data, sort_keys=True).encode(), 9)).decode()
    chunks = '\n'.join(packed[i:i + 76] for i in range(0, len(packed), 76))
    return text.replace(PAYLOAD_LINE, f'PAYLOAD = """\n{chunks}\n"""\n')


def build(root, out, versions=None):
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + '.tmp')
    tmp.write_text(render(build_payload(root, versions)))
    tmp.chmod(0o755)
    os.replace(tmp, out)
    return out


def build_package(root, script, outdir):
    """The wheel and sdist of ``script``: ``pip install`` gives xloud-nova.

    One module (the single file, unchanged) and a console script, so an
    operator can install the command on a host or into an image with pip
    as well as copy the file. Versioned like the plugin: the default
    release's local version, since it carries every release.

    :returns: [wheel, sdist] paths in ``outdir``
    """
    default = patchq.load_pins(root)[0]
    with tempfile.TemporaryDirectory(prefix='xloud-nova-pkg-') as source:
        source = pathlib.Path(source)
        shutil.copyfile(script, source / f'{PACKAGE}.py')
        (source / 'pyproject.toml').write_text(PYPROJECT.format(
            name=PACKAGE, version=default.local_version))
        (source / 'README.rst').write_text(
            TEMPLATE.read_text().split('"""')[1].strip() + '\n')
        return patchq.build_dist(
            source, pathlib.Path(outdir), PACKAGE, 'xloud-nova',
            default.local_version, shared=True)


# -- the real-install check ----------------------------------------------

def snapshot(site):
    """{relative path: sha256} of nova's files and its metadata in ``site``.

    Bytecode is left out: Python writes it for whatever is imported.
    """
    out = {}
    for top in sorted(os.listdir(site)):
        if not (top == 'nova' or top.startswith('nova-') or
                top == '.xloud-nova'):
            continue
        for dirpath, dirnames, filenames in os.walk(os.path.join(site, top)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            for n in filenames:
                p = os.path.join(dirpath, n)
                with open(p, 'rb') as f:
                    out[os.path.relpath(p, site)] = sha256(f.read())
            if not filenames and not dirnames:
                out[os.path.relpath(dirpath, site) + '/'] = 'empty dir'
    return out


def tree_state(root):
    """{relative path: (content, mode, uid, gid)} of all under ``root``.

    Files, directories and symlinks alike: a file's content is its
    sha256, a link's its target. Bytecode is left out, as in snapshot().
    """
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                content = '-> ' + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                content = 'directory'
            else:
                with open(p, 'rb') as f:
                    content = sha256(f.read())
            out[os.path.relpath(p, root)] = (
                content, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid)
    return out


#: Runs xloud-nova (argv: N, the script, its arguments) and kills it at
#: its N-th os.replace, as a crash or a kill -9 would.
CRASH = (
    'import os, runpy, sys\n'
    'n = int(sys.argv.pop(1))\n'
    'real = os.replace\n'
    'calls = []\n'
    'def replace(*args, **kwargs):\n'
    '    calls.append(args)\n'
    '    if len(calls) == n:\n'
    '        os._exit(9)\n'
    '    return real(*args, **kwargs)\n'
    'os.replace = replace\n'
    'sys.argv = sys.argv[1:]\n'
    'runpy.run_path(sys.argv[0], run_name="__main__")\n')
#: Where the real-install check kills apply and revert: about half-way
#: through their renames (apply: some 70 files and 20 backups; revert:
#: 20 upstream files put back, the new files are unlinked).
CRASH_AT = {'apply': 40, 'revert': 10}


def parse_entry_points(text):
    """{group: {name: value}} of an installed entry_points.txt."""
    parser = configparser.ConfigParser(delimiters=('=',),
                                       interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return {g: dict(parser.items(g)) for g in parser.sections()}


def find_wheel(root, pin):
    """Our wheel of ``pin``'s release, where make built it, or None."""
    name = f'{pin.name}-{pin.local_version}-py3-none-any.whl'
    for d in ('build/dist-check', 'dist'):
        path = pathlib.Path(root) / d / name
        if path.exists():
            return path
    return None


def site_packages(venv):
    py = venv / 'bin' / 'python'
    return pathlib.Path(subprocess.check_output(
        [str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()'
         '["purelib"])'], text=True).strip())


class Check:
    """apply, status, revert on a real pip install of upstream nova."""

    def __init__(self, root, script, work, python=sys.executable,
                 index_url=None, concurrency=1, every_test=False):
        self.root = pathlib.Path(root)
        self.script = pathlib.Path(script)
        self.work = pathlib.Path(work)
        self.python = python
        self.index_url = index_url
        self.concurrency = concurrency
        self.every_test = every_test
        self.results = []
        self.timings = []

    def record(self, name, ok, detail=''):
        self.results.append(ok)
        print(f'   {"ok  " if ok else "FAIL"} {name} {detail}'.rstrip(),
              flush=True)
        return ok

    def xloud(self, venv, *args):
        proc = subprocess.run(
            [str(venv / 'bin' / 'python'), str(self.script)] + list(args),
            capture_output=True, text=True)
        print(f'   $ xloud-nova {" ".join(args)}\n' + ''.join(
            f'     {line}\n' for line in (proc.stdout + proc.stderr)
            .splitlines()[-8:]), end='', flush=True)
        return proc

    def new_venv(self, venv, *options):
        """A new, empty venv of self.python at ``venv``."""
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([self.python, '-m', 'venv', *options, str(venv)],
                       check=True)
        return venv

    def pip_install(self, venv, *args):
        """pip install ``args`` into ``venv`` (from --index-url if set)."""
        cmd = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install',
               '--quiet', '--disable-pip-version-check', *args]
        if self.index_url:
            cmd[4:4] = ['--isolated', '--index-url', self.index_url]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(proc.stdout + proc.stderr)
        return proc.returncode == 0

    def install(self, version):
        """A clean venv with upstream nova==version (no dependencies)."""
        venv = self.new_venv(self.work / f'venv-{version}')
        if self.pip_install(venv, '--no-deps', f'nova=={version}'):
            return venv
        return None

    #: What the check asks of the reverted install.
    SAME = 'byte-identical to the fresh install'

    def snapshot(self, venv, site):
        """What revert must give back as it was: nova's files."""
        return snapshot(site)

    def release(self, version, functional=None, wheel=None):
        start = time.monotonic()
        print(f'== inplace: nova {version}', flush=True)
        venv = self.install(version)
        if not self.record(f'{version}: pip install nova=={version} into a '
                           f'clean venv', venv is not None):
            return
        site = site_packages(venv)
        fresh = self.snapshot(venv, site)
        target = ('--target', str(site))
        proc = self.xloud(venv, 'status', *target)
        self.record(f'{version}: status says upstream',
                    proc.returncode == 0 and
                    proc.stdout.startswith('upstream:'))
        proc = self.xloud(venv, 'apply', '--dry-run', *target)
        self.record(f'{version}: apply --dry-run changes nothing',
                    proc.returncode == 0 and
                    self.snapshot(venv, site) == fresh)
        self.crash(venv, version, 'apply', CRASH_AT['apply'], target)
        proc = self.xloud(venv, 'apply', *target)
        self.record(f'{version}: apply again finishes the interrupted one',
                    proc.returncode == 0 and
                    'restart these services' in proc.stdout)
        proc = self.xloud(venv, 'status', *target)
        self.record(f'{version}: status says patched',
                    proc.returncode == 0 and
                    proc.stdout.startswith('patched with xloud'))
        proc = self.xloud(venv, 'apply', *target)
        self.record(f'{version}: a second apply is harmless',
                    proc.returncode == 0 and 'nothing to do' in proc.stdout)
        if wheel:
            self.same_as_wheel(version, site, wheel)
        else:
            print(f'   (no wheel of ours for {version} to compare with: '
                  f'"make dist NOVA={version}" or the packages stage '
                  f'builds it)', flush=True)
        probe = ('import importlib.metadata as m\n'
                 'eps = m.entry_points(group="nova.api.extra_spec_'
                 'validators")\n'
                 'print(sorted(e.name for e in eps if e.name == "minimum"))\n'
                 'from nova.api.validation.extra_specs import validators\n'
                 'validators.validate("minimum_cpu", "2")\n'
                 'try:\n'
                 '    validators.validate("minimum_cpu", "abc")\n'
                 'except Exception as e:\n'
                 '    print(type(e).__name__)\n')
        if functional:
            proc = subprocess.run([str(functional), '-c', probe],
                                  cwd='/', capture_output=True, text=True,
                                  env=self.borrow_env(venv, functional))
            ok = proc.stdout.split() == ["['minimum']", 'ValidationError']
            self.record(f'{version}: the installed validators register '
                        f'and refuse minimum_cpu=abc', ok,
                        '' if ok else (proc.stdout + proc.stderr)[-300:])
            self.functional(version, venv, site, functional)
        proc = self.xloud(venv, 'revert', '--dry-run', *target)
        self.record(f'{version}: revert --dry-run changes nothing',
                    proc.returncode == 0 and
                    'unchanged' in proc.stdout)
        self.crash(venv, version, 'revert', CRASH_AT['revert'], target)
        proc = self.xloud(venv, 'revert', *target)
        self.record(f'{version}: revert again finishes the interrupted one',
                    proc.returncode == 0)
        after = self.snapshot(venv, site)
        diff = sorted(set(after.items()) ^ set(fresh.items()))
        self.record(f'{version}: every file {self.SAME} ({len(fresh)} '
                    f'files)', not diff,
                    ', '.join(sorted({p for p, _ in diff}))[:500])
        proc = self.xloud(venv, 'status', *target)
        self.record(f'{version}: status says upstream again',
                    proc.returncode == 0 and
                    proc.stdout.startswith('upstream:'))
        seconds = time.monotonic() - start
        self.timings.append((version, seconds))
        print(f'   nova {version}: {seconds:.0f} s', flush=True)

    def package(self, versions):
        """The command's wheel installs with pip and is the single file.

        Built from every pinned release, installed alone in a clean
        virtualenv (it has no dependencies), its console script must list
        ``versions`` and its module must equal the single file.
        """
        script = build(self.root, self.work / 'package' / 'xloud-nova')
        try:
            wheel, _ = build_package(self.root, script,
                                     self.work / 'package')
        except patchq.QueueError as e:
            return self.record('build the xloud-nova wheel', False, str(e))
        self.record('build the xloud-nova wheel', True, wheel.name)
        venv = self.new_venv(self.work / 'package' / 'venv')
        proc = subprocess.run(
            [str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '--quiet',
             '--disable-pip-version-check', '--no-index', str(wheel)],
            capture_output=True, text=True)
        if not self.record('the wheel installs alone in a clean venv',
                           proc.returncode == 0, proc.stderr[-300:]):
            return
        proc = subprocess.run([str(venv / 'bin' / 'xloud-nova'), 'releases'],
                              capture_output=True, text=True)
        said = [line.split()[1].rstrip(':')
                for line in proc.stdout.splitlines()]
        self.record('its xloud-nova command lists every release',
                    proc.returncode == 0 and sorted(said) == sorted(versions),
                    f'({", ".join(said)})')
        module = site_packages(venv) / f'{PACKAGE}.py'
        self.record('its module is the single file, byte for byte',
                    module.exists() and
                    module.read_bytes() == script.read_bytes())

    def crash(self, venv, version, command, n, target):
        """Kill ``xloud-nova command`` at its ``n``-th rename.

        The process dies there (os._exit: no cleanup runs), with the n-th
        file written to its temporary file and not renamed. status must
        then say partial.
        """
        proc = subprocess.run(
            [str(venv / 'bin' / 'python'), '-c', CRASH, str(n),
             str(self.script), command] + list(target),
            capture_output=True, text=True)
        status = self.xloud(venv, 'status', *target)
        self.record(f'{version}: {command} killed at its {n}th file write '
                    f'leaves status partial', proc.returncode == 9 and
                    status.returncode == 1 and
                    status.stdout.startswith('partial:'),
                    '' if proc.returncode == 9 else
                    f'(rc {proc.returncode}) {proc.stderr[-300:]}')

    def same_as_wheel(self, version, site, wheel):
        """The patched install holds exactly our wheel's nova/ files.

        And its entry points are the wheel's: what "pip install" of our
        package would have given, file for file.
        """
        with zipfile.ZipFile(wheel) as whl:
            ours = {n: sha256(whl.read(n)) for n in whl.namelist()
                    if n.startswith(INSTALLED) and not n.endswith('/')}
            info = [n for n in whl.namelist()
                    if n.endswith('.dist-info/entry_points.txt')]
            wheel_eps = parse_entry_points(whl.read(info[0]).decode())
        installed = {k: v for k, v in snapshot(site).items()
                     if k.startswith(INSTALLED)}
        differ = sorted(n for n in set(ours) | set(installed)
                        if ours.get(n) != installed.get(n))
        self.record(f'{version}: nova/ is file for file our wheel\'s '
                    f'({len(ours)} files, {wheel.name})', not differ,
                    ', '.join(differ)[:500])
        metadata = [n for n in os.listdir(site)
                    if n.startswith('nova-') and n.endswith('.dist-info')]
        with open(site / metadata[0] / 'entry_points.txt') as f:
            installed_eps = parse_entry_points(f.read())
        differ = {g: v for g, v in wheel_eps.items()
                  if installed_eps.get(g) != v}
        self.record(f'{version}: the installed entry points are our '
                    f'wheel\'s', installed_eps == wheel_eps,
                    str(differ)[:500] if differ else '')

    def borrow_env(self, venv, python):
        """Run ``python`` (the release's test venv) on ``venv``'s nova.

        The test venv's site-packages gives the dependencies; the clean
        venv's site-packages, first on the path, gives nova itself. Our
        patched nova installed in the test venv (editable) is hidden: its
        finder and .pth are not loaded, so "import nova" and nova's entry
        points come from the clean venv. Nova's test harness looks for
        api-paste.ini in a source tree (etc/nova/ beside nova/); pip
        installed upstream's copy in the venv's etc/nova/, which oslo.config
        is pointed at through its environment.
        """
        env = dict(os.environ, PYTHONNOUSERSITE='1')
        env['PYTHONPATH'] = str(site_packages(venv))
        env['OS_WSGI__API_PASTE_CONFIG'] = str(
            venv / 'etc' / 'nova' / 'api-paste.ini')
        return env

    def functional(self, version, venv, site, python):
        """Our functional tests, run from the in-place patched nova."""
        modules = list(SMOKE)
        if self.every_test:
            modules = [testrun.module_of(n) for n in
                       patchq.Queue(self.root).overlay_files()
                       if n.startswith('nova/tests/functional/') and
                       os.path.basename(n).startswith('test_')]
        filters = [rf'^{m.replace(".", "[.]")}(\.|$)' for m in modules]
        env = dict(self.borrow_env(venv, python), **testrun.TEST_ENV)
        # stestr runs each worker with ${PYTHON}, which "make VAR=..."
        # exports when PYTHON is set on make's command line
        env['PYTHON'] = str(python)
        print(f'   functional tests from {site}', flush=True)
        start = time.monotonic()
        proc = subprocess.run(
            [str(python), '-m', 'stestr', '--test-path',
             './nova/tests/functional', '--top-dir', './', 'run',
             f'--concurrency={self.concurrency}'] + filters, cwd=site,
            env=env,
            capture_output=True, text=True)
        counts = testrun.parse_stestr(proc.stdout)
        print(proc.stdout[-1500:], flush=True)
        ok = bool(counts is not None and proc.returncode == 0 and
                  counts.passed)
        which = 'every one of' if self.every_test else 'a smoke set of'
        self.record(f'{version}: {which} our functional tests from the '
                    f'patched install ({counts}, '
                    f'{time.monotonic() - start:.0f} s)', ok,
                    proc.stderr[-500:] if not ok else '')
        shutil.rmtree(site / '.stestr', ignore_errors=True)


#: kolla's nova user and group (kolla/common/users.py: nova-user).
KOLLA_USER = 'nova'
KOLLA_UID = 42436


def kolla_user():
    """kolla's nova user, created (as a system user) where it is missing.

    With kolla's uid and gid where they are free, as kolla's images have
    it (macros.configure_user): a host that already has a nova user
    keeps it as it is.
    """
    try:
        return pwd.getpwnam(KOLLA_USER)
    except KeyError:
        pass
    try:
        pwd.getpwuid(KOLLA_UID)
        ids = []
    except KeyError:
        ids = [str(KOLLA_UID)]
    subprocess.run(['groupadd', '--force', '--system'] +
                   ['--gid'] * bool(ids) + ids + [KOLLA_USER], check=True)
    subprocess.run(['useradd', '--system', '--gid', KOLLA_USER,
                    '--home-dir', f'/var/lib/{KOLLA_USER}', '--no-create-home',
                    '--shell', '/usr/sbin/nologin'] +
                   ['--uid'] * bool(ids) + ids + [KOLLA_USER], check=True)
    return pwd.getpwnam(KOLLA_USER)


class KollaCheck(Check):
    """The real-install check on a venv laid out as kolla's images have it.

    kolla's openstack-base image makes /var/lib/kolla/venv with
    "python3 -m venv --system-site-packages" and a lib/python3 link to
    its lib/python3.X; nova-base pip installs nova into it, as root, under
    the series' upper constraints, and creates the nova user its services
    run as. Here: that venv under the work directory, of ``python`` (the
    Python of the image: 3.12 on Ubuntu 24.04, 3.10 on 22.04), nova==R
    from PyPI with its dependencies under constraints/R.txt, owned by
    ``owner`` (root, as kolla builds it, or nova).

    The smoke set runs from it with the interpreter of a second venv of
    the same Python that holds the test tools (test-requirements.txt,
    placement): the kolla venv's site-packages comes first on its path,
    so nova and every dependency the kolla venv has are the kolla venv's
    (Check.borrow_env), and the kolla venv holds what an image holds,
    nothing more. The tests run as root: the nova user cannot run an
    interpreter under a private home (pyenv's in /root); that the nova
    user can read every file of the patched nova/ is checked file by file.

    Before apply and after revert, every file, directory and symlink of
    the whole venv is compared: content, mode and owner.
    """

    SAME = 'of the venv as it was: content, mode and owner'
    #: Who owns the venv: root or the nova user (set by main()).
    owner = 'root'

    def snapshot(self, venv, site):
        return tree_state(venv)

    def install(self, version):
        venv = self.new_venv(
            self.work / f'nova-{version}' / 'var' / 'lib' / 'kolla' / 'venv',
            '--system-site-packages')
        py = self.python_name()
        (venv / 'lib' / 'python3').symlink_to(py)
        if not self.pip_install(venv, '-c', str(self.constraints(version)),
                                f'nova=={version}'):
            return None
        user = pwd.getpwnam(self.owner)
        for dirpath, dirnames, filenames in os.walk(venv):
            for n in [dirpath] + [os.path.join(dirpath, n)
                                  for n in dirnames + filenames]:
                os.chown(n, user.pw_uid, user.pw_gid, follow_symlinks=False)
        count = sum(len(d) + len(f) for _, d, f in os.walk(venv))
        print(f'   kolla venv {venv} ({py}, nova=={version} and its '
              f'dependencies: {count} entries), owned by {self.owner} '
              f'(uid {user.pw_uid})', flush=True)
        return venv

    def python_name(self):
        """python3.X: the name of self.python in a venv's lib/."""
        return subprocess.check_output(
            [self.python, '-c',
             'import sys; print("python%d.%d" % sys.version_info[:2])'],
            text=True).strip()

    def constraints(self, version):
        return self.root / 'constraints' / f'{version}.txt'

    def test_venv(self, version):
        """The venv of the test tools, of the kolla venv's Python."""
        venv = self.work / f'tests-{version}-{self.python_name()}'
        done = venv / '.xloud-installed'
        if done.exists():
            return venv
        queue = patchq.Queue(self.root, pin=patchq.load_pin(self.root,
                                                            version))
        self.new_venv(venv)
        if not self.pip_install(
                venv, '-c', str(self.constraints(version)), '-r',
                str(queue.upstream_dir() / 'test-requirements.txt'),
                'openstack-placement', 'jsonpath-rw-ext', 'hypothesis'):
            return None
        done.touch()
        return venv

    def release(self, version, functional=None, wheel=None):
        tests = self.test_venv(version)
        if self.record(f'{version}: the test tools in a venv of '
                       f'{self.python}', tests is not None):
            functional = tests / 'bin' / 'python'
        super().release(version, functional=functional, wheel=wheel)

    def functional(self, version, venv, site, python):
        user = pwd.getpwnam(KOLLA_USER)
        proc = subprocess.run(
            ['runuser', '-u', KOLLA_USER, '--', 'find', str(site / 'nova'),
             '(', '!', '-readable', '-o', '-type', 'd', '!', '-executable',
             ')', '-print'], capture_output=True, text=True)
        self.record(f'{version}: the {KOLLA_USER} user (uid {user.pw_uid}), '
                    f'which kolla\'s services run as, can read every file '
                    f'of the patched nova/', proc.returncode == 0 and
                    not proc.stdout, (proc.stdout + proc.stderr)[-500:])
        super().functional(version, venv, site, python)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('build', help='write the single-file xloud-nova')
    p.add_argument('--out', default=str(patchq.ROOT / 'dist' / 'xloud-nova'))
    p.add_argument('--package', metavar='DIR',
                   help='also build its wheel and sdist (%s) into DIR'
                   % PACKAGE)
    p = sub.add_parser('check', help='apply/status/revert on real installs')
    p.add_argument('--script', default=str(patchq.ROOT / 'build' /
                                           'inplace' / 'xloud-nova'))
    p.add_argument('--work', help='where the venvs go (default: '
                   'build/inplace, with --kolla build/kolla)')
    p.add_argument('--release', action='append',
                   help='a pinned release (default: every one)')
    p.add_argument('--functional', metavar='PYTHON',
                   help='run our functional tests from each patched '
                   'install, borrowing the dependencies of this '
                   'interpreter\'s environment: the release\'s test venv '
                   '(.venv, or .venv-R with --release R)')
    p.add_argument('--every-test', action='store_true',
                   help='with --functional, every functional test of ours '
                   '(default: %s)' % ', '.join(SMOKE))
    p.add_argument('--python', default=sys.executable,
                   help='the interpreter of the clean venvs, which runs '
                   'xloud-nova (default: this one)')
    p.add_argument('--index-url', help='install nova from this index')
    p.add_argument('--kolla', metavar='PYTHON',
                   help='check on a venv of this interpreter laid out as '
                   'kolla\'s /var/lib/kolla/venv, owned by root then by '
                   'the nova user (created if missing), with the smoke set '
                   '(root only; see KollaCheck)')
    args = parser.parse_args(argv)
    try:
        if args.command == 'build':
            script = build(patchq.ROOT, args.out)
            print(script)
            if args.package:
                for path in build_package(patchq.ROOT, script,
                                          args.package):
                    print(path)
            return 0
        versions = args.release or [
            p.version for p in patchq.load_pins(patchq.ROOT)]
        script = build(patchq.ROOT, args.script)
        kind, owners = Check, [None]
        if args.kolla:
            kind, owners = KollaCheck, ['root', kolla_user().pw_name]
            args.python = args.kolla
        work = args.work or patchq.ROOT / 'build' / (
            'kolla' if args.kolla else 'inplace')
        check = kind(patchq.ROOT, script, work, python=args.python,
                     index_url=args.index_url, every_test=args.every_test)
        start = time.monotonic()
        for version in versions:
            pin = patchq.load_pin(patchq.ROOT, version)
            for owner in owners:
                check.owner = owner
                check.release(version, functional=args.functional,
                              wheel=find_wheel(patchq.ROOT, pin))
    except patchq.QueueError as e:
        print(f'inplace: {e}', file=sys.stderr)
        return 1
    failed = len(check.results) - sum(check.results)
    print(f'{sum(check.results)} passed, {failed} failed '
          f'({time.monotonic() - start:.0f} s)')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
