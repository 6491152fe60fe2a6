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

"""How tests run here, and how their counts are read.

Shared by the check runner (run_checks.py), the in-place patcher's
real-install check (inplace.py) and the benchmarks (bench.py).
"""

import dataclasses
import re

# The environment upstream's tox.ini sets for its unit and functional envs.
TEST_ENV = {
    'LANGUAGE': 'en_US',
    'LC_ALL': 'C.UTF-8',
    'OS_STDOUT_CAPTURE': '1',
    'OS_STDERR_CAPTURE': '1',
    'OS_TEST_TIMEOUT': '160',
    'PYTHONDONTWRITEBYTECODE': '1',
    'NOVA_RAISE_ON_GREENLET_LEAK': 'True',
    'OS_NOVA_DISABLE_EVENTLET_PATCHING': 'False',
}


@dataclasses.dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __iadd__(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        return self

    def __str__(self):
        return (f'{self.passed} passed, {self.failed} failed, '
                f'{self.skipped} skipped')


def parse_stestr(output):
    """Counts from the "Totals" block stestr prints after a run."""
    def number(label):
        m = re.search(rf'^ - {label}: (\d+)', output, re.MULTILINE)
        return int(m.group(1)) if m else 0
    if not re.search(r'^ - Passed: \d+', output, re.MULTILINE):
        return None
    return Counts(passed=number('Passed') + number('Expected Fail'),
                  failed=number('Failed') + number('Unexpected Success'),
                  skipped=number('Skipped'))


def parse_unittest(output):
    """Counts from the summary "python -m unittest" prints."""
    m = re.search(r'^Ran (\d+) tests? in', output, re.MULTILINE)
    if not m:
        return None
    ran = int(m.group(1))
    failed = sum(int(n) for n in re.findall(
        r'(?:failures|errors|unexpected successes)=(\d+)', output))
    skipped = sum(int(n) for n in re.findall(r'skipped=(\d+)', output))
    # an error in a class's or module's fixture is counted, but not run
    fixtures = len(re.findall(
        r'^ERROR: (?:setUp|tearDown)(?:Class|Module) \(', output,
        re.MULTILINE))
    return Counts(passed=ran - (failed - fixtures) - skipped, failed=failed,
                  skipped=skipped)


def module_of(path):
    return path[:-len('.py')].replace('/', '.')
