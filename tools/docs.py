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

"""Build the patched tree's documentation as upstream does, and check it.

The three books of upstream's tox.ini (the "docs", "api-ref" and
"releasenotes" environments) are built with the same command,
``sphinx-build -W --keep-going -b html``, then upstream's redirect test
(whereto) runs, and the result is checked: the indexes link our pages,
the plugin's commands are documented, and the policy and configuration
samples that upstream's generator configurations produce hold our rules
and options.

The books are built from a shared clone of the tree (build/docs/src), not
from the tree itself: the doc build writes the samples into its source
directory, and a tree with stray files refuses to build packages.

The sdist carries no git history, which reno reads release notes from.
The clone gets what reno needs: upstream's commit is tagged with its
version, so the current series page lists every note of the tree,
upstream's under that version and ours after it; each stable branch that
a series page names points at an empty commit tagged with the page's
earliest version, so those pages are built, empty.
"""

import argparse
import dataclasses
import html
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import patchq  # noqa: E402

#: (name, source directory) of each book, as upstream's tox.ini builds them.
BOOKS = (('doc', 'doc/source'), ('api-ref', 'api-ref/source'),
         ('releasenotes', 'releasenotes/source'))
#: The series of the pinned release (nova 34.0.0), whose branch point
#: the current series page of the release notes starts from.
CURRENT_SERIES = '2026.2'
#: Every option group of ours lives in a module named like this.
CONF_MODULES = 'nova/conf/xloud*.py'
POLICY_RULES = ('os_compute_api:xloud:adjust', 'os_compute_api:xloud:show')
#: The commands the CLI reference must document, and their options.
COMMANDS = {'openstack server adjust': ('--vcpus', '--memory',
                                        '--no-persist', '--wait'),
            'openstack server adjust show': ()}


@dataclasses.dataclass
class Result:
    name: str
    ok: bool
    detail: str = ''
    skipped: bool = False


def git(*args, cwd):
    return patchq.git(*args, cwd=cwd)


def clone(tree, src):
    """A shared clone of the tree at its committed state."""
    if src.exists():
        shutil.rmtree(src)
    src.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(['git', 'clone', '--quiet', '--shared', str(tree),
                    str(src)], check=True)
    # What the build itself writes there (oslo.config's and oslo.policy's
    # sphinx extensions generate the samples into _static) is output, not
    # an edit of the tree.
    (src / '.git' / 'info' / 'exclude').write_text(
        '/doc/source/_static/*.sample\n')
    return src


def write_tree(src, files):
    """A tree object of the upstream commit holding only ``files``."""
    env = dict(os.environ, GIT_INDEX_FILE=str(src / '.git' / 'docs-index'))
    subprocess.run(['git', 'read-tree', '--empty'], cwd=src, env=env,
                   check=True)
    subprocess.run(['git', 'update-index', '--index-info'], cwd=src,
                   env=env, check=True, text=True,
                   input=''.join(f'{line}\n' for line in files))
    return subprocess.run(['git', 'write-tree'], cwd=src, env=env,
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def split_notes(src):
    """Rebuild upstream's commit so no two notes share one commit's UID.

    reno refuses two notes with the same UID (the hex suffix) added in one
    commit; upstream's history added such pairs in separate commits, and
    the sdist has them in one. The clone's history gets one commit per
    rank of duplicate, the last with upstream's exact tree, and the
    overlay commit on top. Returns the commit that stands for upstream.
    """
    entries = git('ls-tree', '-r', '--full-tree', 'upstream',
                  cwd=src).splitlines()
    rank, seen = {}, {}
    for line in entries:
        path = line.split('\t', 1)[1]
        if not re.match(r'releasenotes/notes/[^/]+\.yaml$', path):
            continue
        # reno's UID: the last 16 characters of the name, after any '-'.
        uid = path.rsplit('/', 1)[1][:-len('.yaml')][-16:].rpartition('-')[2]
        rank[path] = seen.get(uid, 0)
        seen[uid] = rank[path] + 1
    top = max(rank.values(), default=0)
    if not top:
        return 'upstream'
    parent = []
    for r in range(top + 1):
        tree = write_tree(src, [e for e in entries
                                if rank.get(e.split('\t', 1)[1], 0) <= r])
        commit = git('commit-tree', tree, *parent, '-m',
                     f'upstream, notes of duplicate rank {r}',
                     cwd=src).strip()
        parent = ['-p', commit]
    head = git('commit-tree', 'HEAD^{tree}', *parent, '-m',
               'xloud: overlay and patches', cwd=src).strip()
    git('update-ref', 'HEAD', head, cwd=src)
    return commit


def reno_refs(src, version):
    """Give reno the refs the release-notes pages name; see the module."""
    upstream = split_notes(src)
    git('tag', '--force', version, upstream, cwd=src)
    # reno finds where a stable branch left its default branch, "master",
    # and the current series page stops at the newest such branch point:
    # upstream's release, so the page lists the notes of the overlay.
    git('branch', '--force', 'master', 'HEAD', cwd=src)
    git('branch', '--force', 'stable/' + CURRENT_SERIES, upstream, cwd=src)
    pages = sorted((src / 'releasenotes' / 'source').glob('*.rst'))
    # Written into the object store: reno reads it with dulwich, which,
    # unlike git, does not know the empty tree without it.
    empty_tree = subprocess.run(['git', 'mktree'], cwd=src, input='',
                                capture_output=True, text=True,
                                check=True).stdout.strip()
    for page in pages:
        text = page.read_text()
        branch = re.search(r'^\s+:branch:\s*(\S+)', text, re.MULTILINE)
        if not branch:
            continue
        earliest = re.search(r'^\s+:earliest-version:\s*(\S+)', text,
                             re.MULTILINE)
        empty = git('commit-tree', empty_tree,
                    '-m', f'{branch.group(1)}: no history in the sdist',
                    cwd=src).strip()
        git('branch', '--force', branch.group(1), empty, cwd=src)
        if earliest:
            git('tag', '--force', earliest.group(1), empty, cwd=src)


def missing_options(sample, groups):
    """{group: options the sample lacks, or None if it lacks the group}.

    ``sample`` is oslo-config-generator's output, where each option of a
    ``[group]`` section reads ``#name = default``.
    """
    result = {}
    for group, options in groups.items():
        section = re.search(rf'^\[{re.escape(group)}\]\n(.*?)(?=^\[|\Z)',
                            sample, re.MULTILINE | re.DOTALL)
        if not section:
            result[group] = None
            continue
        result[group] = [o for o in options
                         if not re.search(rf'^#?{re.escape(o)} = ',
                                          section.group(1), re.MULTILINE)]
    return result


def words(text):
    """Lower-case words, so text compares across markup and typography."""
    return ' '.join(re.findall(r'[a-z0-9]+', text.lower()))


def page_words(page):
    page = re.sub(r'(?s)<(script|style).*?</\1>', ' ', page)
    return words(html.unescape(re.sub(r'<[^>]+>', ' ', page)))


def note_shown(note, page):
    """Whether every entry of a reno note (its parsed YAML) is in a page.

    An entry counts as shown when its first twelve words are, in order.
    """
    entries = []
    for section in note.values():
        entries += section if isinstance(section, list) else [section]
    text = page_words(page)
    return bool(entries) and all(
        ' '.join(words(str(e)).split()[:12]) in text for e in entries)


class Docs:

    def __init__(self, tree, work, python=sys.executable, jobs='auto'):
        self.tree = pathlib.Path(tree)
        self.work = pathlib.Path(work)
        self.src = self.work / 'src'
        self.html = self.work / 'html'
        self.python = python
        self.bin = pathlib.Path(python).parent
        self.jobs = jobs
        self.queue = patchq.Queue(patchq.ROOT)
        self.results = []
        self.timings = {}

    def record(self, name, ok, detail='', skipped=False):
        self.results.append(Result(name, ok, detail, skipped))
        mark = 'skip' if skipped else ('ok  ' if ok else 'FAIL')
        print(f'   {mark} {name} {detail}'.rstrip(), flush=True)

    def run(self, cmd, cwd, env=None):
        print(f'$ {" ".join(str(c) for c in cmd)}', flush=True)
        proc = subprocess.run(cmd, cwd=cwd, env=env, text=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        return proc.returncode, proc.stdout

    def build_all(self):
        start = time.monotonic()
        clone(self.tree, self.src)
        reno_refs(self.src, self.queue.pin.version)
        self.timings['clone'] = time.monotonic() - start
        if self.html.exists():
            shutil.rmtree(self.html)
        # As upstream's tox.ini "docs" environment sets it.
        env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='False',
                   PYTHONWARNINGS='ignore')
        for name, source in BOOKS:
            start = time.monotonic()
            rc, out = self.run(
                [str(self.bin / 'sphinx-build'), '-W', '--keep-going', '-b',
                 'html', '-j', self.jobs, source, str(self.html / name)],
                cwd=self.src, env=env)
            self.timings[name] = time.monotonic() - start
            warnings = [line for line in out.splitlines()
                        if 'WARNING' in line or 'ERROR' in line or
                        'Error' in line]
            for line in warnings[:40]:
                print(f'     {line}')
            if rc:
                print(out[-3000:])
            self.record(f'sphinx-build -W {source}', rc == 0,
                        f'({self.timings[name]:.0f} s)')
        # Upstream's "docs" environment then tests the redirects.
        htaccess = self.html / 'doc' / '.htaccess'
        rc, out = self.run([str(self.bin / 'whereto'), str(htaccess),
                            'doc/test/redirect-tests.txt'], cwd=self.src)
        if rc:
            print(out[-2000:])
        self.record('whereto: the redirects of doc/test/redirect-tests.txt',
                    rc == 0)

    def page(self, book, path):
        try:
            return (self.html / book / path).read_text()
        except OSError:
            return ''

    def check_links(self):
        for book, index, target, what in (
                ('api-ref', 'index.html', 'os-xloud-adjust.html',
                 'the API reference index links os-xloud-adjust'),
                ('doc', 'admin/index.html', 'xloud-live-resize.html',
                 'the admin guide index links xloud-live-resize'),
                ('doc', 'cli/index.html', 'openstack-server-adjust.html',
                 'the CLI index links openstack-server-adjust')):
            page = self.page(book, index)
            self.record(what, f'href="{target}' in page,
                        '' if page else f'({index} was not built)')

    def check_cli(self):
        text = re.sub(r'<[^>]+>', '',
                      self.page('doc', 'cli/openstack-server-adjust.html'))
        for cmd, options in COMMANDS.items():
            missing = [o for o in options if o not in text]
            self.record(f'the CLI reference documents "{cmd}"',
                        (f'{cmd} [' in text or f'{cmd}\n' in text) and
                        not missing,
                        f'(missing {", ".join(missing)})' if missing else '')

    def check_release_notes(self):
        """Every note of ours is on the current series page.

        A note is found by the first words of each of its entries
        (note_shown): the HTML has markup and typography the YAML has not.
        """
        import yaml  # the virtualenv's, as reno's

        page = self.page('releasenotes', 'unreleased.html')
        notes = sorted((patchq.ROOT / 'releasenotes' / 'notes').glob(
            '*.yaml'))
        missing = [n.stem for n in notes
                   if not note_shown(yaml.safe_load(n.read_text()), page)]
        self.record('the current series release notes list ours',
                    bool(notes) and not missing,
                    f'(missing {", ".join(missing)})' if missing else '')

    def check_policy(self):
        out = self.work / 'nova.policy.yaml.sample'
        rc, text = self.run(
            [str(self.bin / 'oslopolicy-sample-generator'), '--config-file',
             'etc/nova/nova-policy-generator.conf', '--output-file',
             str(out)], cwd=self.src)
        sample = out.read_text() if rc == 0 and out.exists() else ''
        missing = [r for r in POLICY_RULES if f'"{r}":' not in sample]
        self.record('the policy sample has the os_compute_api:xloud rules',
                    rc == 0 and not missing,
                    f'(missing {", ".join(missing)})' if missing else '')
        page = self.page('doc', 'configuration/policy.html')
        missing = [r for r in POLICY_RULES if r not in page]
        self.record('the policy reference documents them', not missing,
                    f'(missing {", ".join(missing)})' if missing else '')

    def conf_options(self):
        """{group: [option]} of every option module of ours in the tree."""
        modules = sorted(p.relative_to(self.src).as_posix()[:-3]
                         .replace('/', '.')
                         for p in self.src.glob(CONF_MODULES))
        probe = ('import importlib, json, sys\n'
                 'found = {}\n'
                 'for name in sys.argv[1:]:\n'
                 '    for group, opts in importlib.import_module(name)'
                 '.list_opts().items():\n'
                 '        group = getattr(group, "name", group)\n'
                 '        found.setdefault(group, []).extend('
                 'o.dest for o in opts)\n'
                 'print(json.dumps(found))\n')
        if not modules:
            return modules, {}
        proc = subprocess.run([self.python, '-c', probe] + modules,
                              cwd=self.src, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip()[-1000:])
        return modules, json.loads(proc.stdout.strip().splitlines()[-1])

    def check_config(self):
        out = self.work / 'nova.conf.sample'
        rc, text = self.run(
            [str(self.bin / 'oslo-config-generator'), '--config-file',
             'etc/nova/nova-config-generator.conf', '--output-file',
             str(out)], cwd=self.src)
        self.record('oslo-config-generator builds the config sample',
                    rc == 0 and out.exists(), '' if rc == 0 else text[-500:])
        if rc or not out.exists():
            return
        try:
            modules, groups = self.conf_options()
        except RuntimeError as e:
            self.record(f'the options of {CONF_MODULES} load', False, str(e))
            return
        if not modules:
            self.record(f'the config sample has the groups of '
                        f'{CONF_MODULES}', True,
                        '(no such module in the tree yet)', skipped=True)
            return
        sample = out.read_text()
        reference = self.page('doc', 'configuration/config.html')
        for group, missing in sorted(missing_options(sample,
                                                      groups).items()):
            self.record(f'the config sample has [{group}] and its options',
                        missing == [],
                        f'(missing {", ".join(missing)})' if missing else
                        '(no such section)' if missing is None else '')
            self.record(f'the configuration reference documents [{group}]',
                        f'id="{group}"' in reference)

    def everything(self, build=True):
        if build:
            self.build_all()
        self.check_links()
        self.check_cli()
        self.check_release_notes()
        self.check_policy()
        self.check_config()
        return self.results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tree', default='build/tree')
    parser.add_argument('--work', default='build/docs',
                        help='the clone and the HTML (default: %(default)s)')
    parser.add_argument('--jobs', default='auto',
                        help='sphinx-build -j (default: %(default)s)')
    parser.add_argument('--checks-only', action='store_true',
                        help='check the HTML of the last build, without '
                        'building')
    args = parser.parse_args(argv)
    root = patchq.ROOT
    docs = Docs(root / args.tree, root / args.work, jobs=args.jobs)
    results = docs.everything(build=not args.checks_only)
    failed = [r for r in results if not r.ok]
    print(f'docs: {sum(r.ok and not r.skipped for r in results)} passed, '
          f'{len(failed)} failed, {sum(r.skipped for r in results)} '
          f'skipped; HTML in {docs.html}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
