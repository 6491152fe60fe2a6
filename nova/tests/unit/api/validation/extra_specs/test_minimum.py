# Copyright 2026 XLoud Nova contributors
#
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

import testtools

from nova.api.validation.extra_specs import minimum
from nova.api.validation.extra_specs import validators
from nova import exception
from nova import test


class TestMinimumValidators(test.NoDBTestCase):
    """The minimum_* validators, as Nova loads them from entry points."""

    names = ('minimum_cpu', 'minimum_memory')

    def test_loaded_through_entry_point(self):
        # validators.VALIDATORS is filled from the installed package's
        # "nova.api.extra_spec_validators" entry points, so this fails if
        # the pyproject.toml registration is missing.
        for name in self.names:
            self.assertIsNotNone(validators.VALIDATORS.get(name),
                                 f'{name} is not registered')
            self.assertIs(
                validators.VALIDATORS[name],
                {v.name: v for v in minimum.register()}[name])

    def test_valid(self):
        for name in self.names:
            for value in ('1', '2', '64', '1048576'):
                validators.validate(name, value)

    def test_invalid(self):
        for name in self.names:
            for value in ('abc', '', '0', '-1', '1.5', '2.0', '0x10',
                          'true', '1e3', '2 cpus'):
                with testtools.ExpectedException(
                        exception.ValidationError,
                        msg=f'{name}={value!r} should be rejected'):
                    validators.validate(name, value)

    def test_described(self):
        # doc/ext/extra_specs.py renders the description and the value's
        # type, min and description into the configuration guide.
        for validator in minimum.register():
            self.assertIn('libvirt', validator.description)
            self.assertEqual(int, validator.value['type'])
            self.assertEqual(1, validator.value['min'])
            self.assertTrue(validator.value['description'])
            self.assertFalse(validator.deprecated)

    def test_not_namespaced(self):
        # An un-namespaced name cannot hide a typo behind a namespace, so
        # "minimum_cpus" is accepted as an unknown, unvalidated spec just
        # like upstream treats any other unknown un-namespaced key.
        validators.validate('minimum_cpus', 'abc')
        self.assertNotIn('minimum_cpus', validators.VALIDATORS)
