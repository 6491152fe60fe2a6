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

"""Run the XLoud benchmarks ("make bench") and tabulate them.

Benchmarks, not timed tests: nothing here passes or fails on a number.
Timings on a shared 2-core machine are noisy, so every figure that has a
reference path is reported as a ratio against it, measured in the same run,
with its median (p50), p95 and spread (min, max). The scenarios:

  1-2, 4-5  nova/tests/functional/libvirt/bench_xloud.py, in Nova's
            functional harness: API overhead against lock/unlock and pause,
            live adjust against cold resize, density, the API path at
            N = 1, 10 and 50 servers
  3         nova/tests/hypervisor/bench_xloud_libvirt.py, on a real
            libvirtd + QEMU guest (root only): our driver call against the
            bare libvirt call, until the guest sees the change
  6         the wall time of "make dist" (warm cache) and "make check"
  7         tools/e2e/bench_cloud.py, on the one-node cloud of tools/aio.py
            with two computes (root only): live adjust against cold resize
            end to end, with the guest's downtime (7a); the API path of
            adjust against pause (7b); growing on a full compute by moving
            live against a cold resize off it (7c)

Results: build/bench/results.json and build/bench/results.md, and the
table on stdout. doc/source/contributor/xloud-benchmarks.rst says how to
read them.
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import aio  # noqa: E402
import patchq  # noqa: E402
import realhv  # noqa: E402
import testrun  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / 'e2e'))

import bench_cloud  # noqa: E402

COLUMNS = ('scenario', 'row', 'n', 'p50', 'p95', 'min', 'max', 'unit',
           'reference', 'ratio', 'target', 'met')


def run_module(python, tree, module, env):
    """Run one benchmark module; True when every benchmark in it ran.

    testtools.run loads the module by name: stestr's discovery would only
    find test_*.py files, which is what keeps benchmarks out of make check.
    """
    cmd = [python, '-m', 'testtools.run', module]
    print(f'$ {" ".join(cmd)}', flush=True)
    proc = subprocess.run(cmd, cwd=tree, env=env, text=True,
                          capture_output=True)
    output = proc.stdout + proc.stderr
    summary = [line for line in output.splitlines()
               if line.startswith(('Ran ', 'OK', 'FAILED'))]
    print('\n'.join(summary), flush=True)
    if proc.returncode:
        print(output[-4000:], flush=True)
    return proc.returncode == 0


def time_command(cmd, root, label):
    start = time.monotonic()
    print(f'$ {" ".join(cmd)}', flush=True)
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    seconds = time.monotonic() - start
    last = (proc.stdout.strip().splitlines() or [''])[-1]
    return {'scenario': '6 project cost', 'row': label, 'unit': 's', 'n': 1,
            'p50': round(seconds, 1), 'p95': None, 'min': None,
            'max': None, 'reference': None, 'ratio': None, 'target': None,
            'met': None,
            'note': f'exit {proc.returncode}; last line: {last[:120]}'}


def fmt(value):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'yes' if value else 'NO'
    if isinstance(value, float):
        return f'{value:.4g}'
    return str(value)


def markdown(rows, meta):
    lines = [f'# XLoud benchmarks, {meta["date"]}', '',
             f'`{meta["command"]}` on {meta["machine"]}, commit '
             f'{meta["commit"]}; {meta["repeat"]} repetitions where a '
             f'scenario repeats.', '',
             '| ' + ' | '.join(COLUMNS) + ' | note |',
             '|' + '---|' * (len(COLUMNS) + 1)]
    for row in rows:
        cells = [fmt(row.get(c)) for c in COLUMNS]
        cells.append((row.get('note') or '').replace('|', '/'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def table(rows):
    widths = {'scenario': 18, 'row': 58}
    out = []
    for row in rows:
        ratio = f'{row["ratio"]:.3g}x {row["reference"]}' if row.get(
            'ratio') is not None else ''
        target = ''
        if row.get('target'):
            target = f'[{row["target"]}: {fmt(row.get("met"))}]'
        out.append(f'{row["scenario"][:widths["scenario"]]:<18} '
                   f'{row["row"][:widths["row"]]:<58} '
                   f'p50 {fmt(row.get("p50")):>8} {row.get("unit", "")}'
                   f' p95 {fmt(row.get("p95")):>8}  {ratio} {target}')
    return '\n'.join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--tree', default='build/tree')
    parser.add_argument('--python', default=sys.executable)
    parser.add_argument('--repeat', type=int, default=20,
                        help='repetitions of each repeated scenario '
                             '(default 20)')
    parser.add_argument('--skip', action='append', default=[],
                        choices=('functional', 'hypervisor', 'cloud',
                                 'cost'),
                        help='leave a group of scenarios out')
    parser.add_argument('--cloud', action='append', default=[],
                        choices=('7a', '7b', '7c'),
                        help='of scenario 7, run only these parts')
    args = parser.parse_args(argv)
    root = patchq.ROOT
    tree = root / args.tree
    out = root / 'build' / 'bench'
    out.mkdir(parents=True, exist_ok=True)
    raw = out / 'raw.jsonl'
    raw.unlink(missing_ok=True)
    env = dict(os.environ, **testrun.TEST_ENV)
    env.update(XLOUD_BENCH_RAW=str(raw), XLOUD_BENCH_REPEAT=str(args.repeat),
               OS_TEST_TIMEOUT='1800')
    problems = []
    if 'functional' not in args.skip:
        print('== scenarios 1, 2, 4, 5: the functional harness', flush=True)
        if not run_module(args.python, tree,
                          'nova.tests.functional.libvirt.bench_xloud', env):
            problems.append('the functional benchmarks failed')
    if 'hypervisor' not in args.skip:
        print('== scenario 3: a real hypervisor', flush=True)
        try:
            realhv.can_run()
            with realhv.session(out, root / 'build' / 'guest') as image:
                if not run_module(
                        args.python, tree,
                        'nova.tests.hypervisor.bench_xloud_libvirt',
                        dict(env, XLOUD_HV_IMAGE=str(image))):
                    problems.append('the hypervisor benchmarks failed')
        except realhv.Unavailable as e:
            problems.append(f'scenario 3 not run: {e}')
    rows = []
    if raw.exists():
        rows = [json.loads(line) for line in raw.read_text().splitlines()]
    if 'cloud' not in args.skip:
        print('== scenario 7: the one-node cloud (tools/aio.py)', flush=True)
        try:
            aio.can_run()
            with aio.session(tree, root, computes=2) as cloud:
                # a cold resize boots a guest twice: fewer repetitions
                rows += bench_cloud.run(cloud, max(1, args.repeat // 4),
                                        args.cloud)
        except (realhv.Unavailable, aio.Failed) as e:
            problems.append(f'scenario 7 not run: {e}')
    if 'cost' not in args.skip:
        print('== scenario 6: the project\'s own cost', flush=True)
        make = ['make', '--no-print-directory']
        subprocess.run(make + ['dist'], cwd=root, capture_output=True)
        rows.append(time_command(make + ['dist'], root,
                                 'make dist (warm cache)'))
        rows.append(time_command(make + ['check'], root, 'make check'))
    rows.sort(key=lambda r: r['scenario'])
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                            cwd=root, capture_output=True,
                            text=True).stdout.strip()
    meta = {'date': datetime.datetime.now(datetime.timezone.utc).strftime(
                '%Y-%m-%d %H:%M UTC'),
            'command': 'make bench' + (
                f' BENCH_ARGS="{" ".join(argv)}"' if argv else ''),
            'machine': f'{os.cpu_count()} cores', 'commit': commit,
            'repeat': args.repeat, 'problems': problems}
    (out / 'results.json').write_text(json.dumps(
        {'meta': meta, 'rows': rows}, indent=1) + '\n')
    (out / 'results.md').write_text(markdown(rows, meta))
    print('\n== results (build/bench/results.md, results.json)')
    print(table(rows))
    for problem in problems:
        print(f'!! {problem}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
