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

"""Tests for tools/run_checks.py: what it runs, what its summary repeats."""

import io
import pathlib
import sys
import unittest
from unittest import mock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import run_checks  # noqa: E402
import testrun  # noqa: E402


class FailureLinesTest(unittest.TestCase):

    def test_keeps_failures_and_passes_everything_through(self):
        out = io.StringIO()
        tee = run_checks.FailureLines(out)
        text = (
            '{0} nova.tests.unit.test_a.T.test_ok [0.1s] ... ok\n'
            '{1} nova.tests.unit.test_a.T.test_bad [0.2s] ... FAILED\n'
            'test_x (test_patchq.QueueTest.test_x) ... ERROR\n'
            'FAIL: test_y (test_docs.DocsTest.test_y)\n'
            '   ok   31.3.1: status says upstream\n'
            '   FAIL 31.3.1: revert again finishes the interrupted one\n'
            'a line that mentions a FAILED build in passing\n')
        # Written in pieces that split lines, as a subprocess's output is.
        for i in range(0, len(text), 7):
            tee.write(text[i:i + 7])
        self.assertEqual(text, out.getvalue())
        self.assertEqual([
            '{1} nova.tests.unit.test_a.T.test_bad [0.2s] ... FAILED',
            'test_x (test_patchq.QueueTest.test_x) ... ERROR',
            'FAIL: test_y (test_docs.DocsTest.test_y)',
            'FAIL 31.3.1: revert again finishes the interrupted one',
        ], tee.lines)

    def test_summary_path_names_the_release_and_python(self):
        self.assertEqual(
            pathlib.Path('/r/build/check-summary-33.0.2-py3.12.txt'),
            run_checks.summary_path(pathlib.Path('/r'), '33.0.2', '3.12'))

    def test_python_version(self):
        self.assertEqual('%d.%d' % sys.version_info[:2],
                         run_checks.python_version(sys.executable))


class UpstreamModulesTest(unittest.TestCase):
    """upstream-tests.txt's modules go to the stage of their kind."""

    MAP = {
        'nova/virt/driver.py': [
            'nova.tests.unit.virt.test_virt_drivers',
            'nova.tests.functional.test_servers_provider_tree'],
        'nova/virt/libvirt/driver.py': [
            'nova.tests.unit.virt.test_virt_drivers'],
        'doc/source/conf.py': ['@docs'],
    }

    def runner(self, default=True):
        runner = run_checks.Runner.__new__(run_checks.Runner)
        runner.queue = mock.Mock()
        runner.queue.tests_map.return_value = self.MAP
        runner.queue.pin.default = default
        runner.queue.pin.version = '33.0.2'
        runner.queue.pin.pythons = ('3.11', '3.12')
        runner.queue.driver_differs.return_value = False
        runner.queue.overlay_files.return_value = [
            'nova/tests/unit/xloud/test_api.py',
            'nova/tests/functional/libvirt/test_xloud_adjust.py',
            'nova/tests/functional/libvirt/bench_xloud.py']
        return runner

    def test_unit_and_functional_modules(self):
        runner = self.runner()
        runner.every_upstream_unit = False
        self.assertEqual(['nova.tests.unit.xloud.test_api',
                          'nova.tests.unit.virt.test_virt_drivers'],
                         runner.unit_modules())
        self.assertEqual(['nova.tests.functional.test_servers_provider_tree'],
                         runner.upstream_modules('functional'))

    def test_another_release_maps_only_the_files_it_changes_otherwise(self):
        runner = self.runner(default=False)
        runner.every_upstream_unit = False
        runner.queue.overrides.return_value = {
            'nova/virt/driver.py': 'o1', 'nova/virt/libvirt/driver.py': 'o2'}
        runner.queue.same_change.side_effect = (
            lambda t: t == 'nova/virt/driver.py')
        self.assertEqual(['nova/virt/libvirt/driver.py'],
                         runner.differing_files())
        self.assertEqual(['nova.tests.unit.xloud.test_api',
                          'nova.tests.unit.virt.test_virt_drivers'],
                         runner.unit_modules())
        runner.queue.same_change.side_effect = lambda t: True
        self.assertEqual(['nova.tests.unit.xloud.test_api'],
                         runner.unit_modules())
        runner.every_upstream_unit = True  # make check-upstream
        self.assertEqual(['nova.tests.unit.xloud.test_api',
                          'nova.tests.unit.virt.test_virt_drivers'],
                         runner.unit_modules())

    def test_every_upstream_functional_module_but_ours(self):
        runner = self.runner()
        with mock.patch.object(runner, 'stestr') as stestr:
            runner.upstream_functional(every=True)
            runner.upstream_functional()
        self.assertEqual([
            mock.call('upstream-functional', './nova/tests/functional', None,
                      exclude=['nova.tests.functional.libvirt.'
                               'test_xloud_adjust']),
            mock.call('upstream-functional', './nova/tests/functional',
                      ['nova.tests.functional.test_servers_provider_tree']),
        ], stestr.mock_calls)

    def test_default_release_only(self):
        self.assertIn('upstream-functional',
                      run_checks.release_stages(self.runner().queue)[0])
        stages, why = run_checks.release_stages(
            self.runner(default=False).queue)
        self.assertNotIn('upstream-functional', stages)
        self.assertIn('functional', stages)
        self.assertIn('"make check-upstream NOVA=33.0.2"', why)

    def test_a_release_on_its_first_python_or_one_not_listed(self):
        for python in ('3.11', '3.13', None):
            self.assertEqual(
                run_checks.STAGES,
                run_checks.release_stages(self.runner().queue, python)[0])

    def test_a_cell_runs_functional_once_per_release(self):
        queue = self.runner().queue
        stages, why = run_checks.release_stages(queue, '3.11', cell=True)
        self.assertNotIn('functional', stages)
        self.assertIn('unit', stages)
        self.assertIn('functional runs in the cell of Python 3.12', why)
        self.assertIn('functional', run_checks.release_stages(
            queue, '3.12', cell=True)[0])
        queue.pin.pythons = ('3.11',)  # one Python: it runs them
        self.assertEqual(run_checks.STAGES, run_checks.release_stages(
            queue, '3.11', cell=True)[0])

    def test_a_release_on_another_python(self):
        for default in (True, False):
            stages, why = run_checks.release_stages(
                self.runner(default).queue, '3.12')
            self.assertEqual(('unit', 'functional'), stages)
            self.assertIn('Python 3.12, not 33.0.2\'s first (3.11)', why)


if __name__ == '__main__':
    unittest.main()


class ParseUnittestTest(unittest.TestCase):

    def test_a_class_fixture_error_is_a_failure_not_a_test(self):
        # e2e: setUpClass of one class failed, one test of another errored
        out = ('ERROR: setUpClass (test_cloud.EndToEnd)\n'
               'ERROR: test_grow (test_two_computes.TwoComputes.test_grow)\n'
               'Ran 1 test in 18.466s\n\nFAILED (errors=2)\n')
        self.assertEqual(testrun.Counts(passed=0, failed=2, skipped=0),
                         testrun.parse_unittest(out))

    def test_passes_failures_and_skips(self):
        out = 'Ran 12 tests in 3.2s\n\nFAILED (failures=1, skipped=2)\n'
        self.assertEqual(testrun.Counts(passed=9, failed=1, skipped=2),
                         testrun.parse_unittest(out))
