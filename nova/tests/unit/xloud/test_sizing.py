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

import ddt

from nova.compute import vm_states
from nova import exception
from nova import objects
from nova import test
from nova.tests.unit.xloud import fakes
from nova.xloud import records
from nova.xloud import sizing


def _flavor(vcpus=4, memory_mb=2048, **extra_specs):
    return objects.Flavor(vcpus=vcpus, memory_mb=memory_mb,
                          extra_specs=extra_specs)


def _image(**props):
    return objects.ImageMeta.from_dict({'properties': props})


@ddt.ddt
class TestEnvelope(test.NoDBTestCase):

    def test_no_minimum_is_upstream(self):
        flavor = _flavor()
        self.assertIsNone(sizing.minimum_vcpus(flavor))
        self.assertIsNone(sizing.minimum_memory_mb(flavor))
        self.assertEqual(4, sizing.boot_vcpus(flavor))
        self.assertEqual(2048, sizing.boot_memory_mb(flavor))
        sizing.check_flavor(flavor)

    def test_minimums(self):
        flavor = _flavor(minimum_cpu='2', minimum_memory='1024')
        self.assertEqual(2, sizing.boot_vcpus(flavor))
        self.assertEqual(1024, sizing.boot_memory_mb(flavor))
        sizing.check_flavor(flavor)

    def test_extra_specs_not_loaded(self):
        # a flavor built without extra_specs must not lazy-load them
        flavor = objects.Flavor(vcpus=4, memory_mb=2048)
        self.assertEqual(4, sizing.boot_vcpus(flavor))
        self.assertEqual(2048, sizing.boot_memory_mb(flavor))
        self.assertFalse(flavor.obj_attr_is_set('extra_specs'))

    @ddt.data(('0', '0'), ('-1', '-1'), ('abc', 'abc'), ('1.5', '1.5'),
              ('', ''), ('5', '4096'))
    @ddt.unpack
    def test_unusable_minimum_behaves_like_upstream(self, cpu, memory):
        # what the API refuses today but older data may hold
        flavor = _flavor(minimum_cpu=cpu, minimum_memory=memory)
        self.assertEqual(4, sizing.boot_vcpus(flavor))
        self.assertEqual(2048, sizing.boot_memory_mb(flavor))

    def test_above_maximum_refused(self):
        exc = self.assertRaises(
            sizing.XloudEnvelopeInvalid, sizing.check_flavor,
            _flavor(minimum_cpu='5', minimum_memory='4096'))
        self.assertIn("minimum_cpu (5) cannot exceed the flavor's vcpus (4)",
                      str(exc))
        self.assertIn("minimum_memory (4096) cannot exceed the flavor's "
                      "memory_mb (2048)", str(exc))

    @ddt.data('abc', '0', '-2', '1.5', 'true')
    def test_not_an_integer_refused(self, value):
        exc = self.assertRaises(
            sizing.XloudEnvelopeInvalid, sizing.check_flavor,
            _flavor(minimum_cpu=value))
        self.assertIn('minimum_cpu must be an integer of at least 1', str(exc))

    def test_is_a_400_for_the_servers_api(self):
        # servers.INVALID_FLAVOR_IMAGE_EXCEPTIONS lists InvalidRequest
        self.assertTrue(issubclass(sizing.XloudEnvelopeInvalid,
                                   exception.InvalidRequest))

    @ddt.data(
        ({'hw:cpu_policy': 'dedicated'}, None, 'dedicated CPU policy'),
        ({'hw:cpu_policy': 'mixed'}, None, 'mixed CPU policy'),
        ({}, {'hw_cpu_policy': 'dedicated'}, 'dedicated CPU policy'),
        ({'hw:cpu_realtime': 'yes'}, None, 'hw:cpu_realtime'),
        # upstream's override of the VCPU amount placement allocates
        ({'resources:VCPU': '3'}, None, 'resources:VCPU'),
        ({'resources1:VCPU': '3'}, None, 'resources:VCPU'),
    )
    @ddt.unpack
    def test_cpu_conflicts(self, specs, props, reason):
        flavor = _flavor(minimum_cpu='2', **specs)
        image = _image(**props) if props else None
        exc = self.assertRaises(sizing.XloudEnvelopeInvalid,
                                sizing.check_flavor, flavor, image)
        self.assertIn(reason, str(exc))
        if not props:
            # placement and the guest behave like upstream for such data
            self.assertEqual(4, sizing.boot_vcpus(flavor))

    @ddt.data(
        ({'hw:mem_page_size': 'large'}, None, 'hw:mem_page_size'),
        ({}, {'hw_mem_page_size': '2MB'}, 'hw:mem_page_size'),
        ({'hw:mem_encryption': 'true'}, None, 'memory encryption'),
        ({}, {'hw_mem_encryption': True}, 'memory encryption'),
        ({'hw:locked_memory': 'true'}, None, 'hw:locked_memory'),
        ({'pci_passthrough:alias': 'a1:1'}, None, 'PCI or vGPU'),
        ({'resources:VGPU': '1'}, None, 'PCI or vGPU'),
        ({'resources1:VGPU': '1'}, None, 'PCI or vGPU'),
        ({'resources:MEMORY_MB': '1536'}, None, 'resources:MEMORY_MB'),
        ({'resources_g1:MEMORY_MB': '1536'}, None, 'resources:MEMORY_MB'),
    )
    @ddt.unpack
    def test_memory_conflicts(self, specs, props, reason):
        flavor = _flavor(minimum_memory='1024', **specs)
        image = _image(**props) if props else None
        exc = self.assertRaises(sizing.XloudEnvelopeInvalid,
                                sizing.check_flavor, flavor, image)
        self.assertIn(reason, str(exc))
        if not props:
            self.assertEqual(2048, sizing.boot_memory_mb(flavor))

    def test_conflict_only_matters_for_its_resource(self):
        # hugepages do not stop a CPU minimum, nor pinning a memory one
        sizing.check_flavor(_flavor(minimum_cpu='2',
                                    **{'hw:mem_page_size': 'large'}))
        sizing.check_flavor(_flavor(minimum_memory='1024',
                                    **{'hw:cpu_policy': 'dedicated'}))
        sizing.check_flavor(_flavor(**{'hw:cpu_policy': 'dedicated'}))

    def test_explicit_shared_policy_is_fine(self):
        sizing.check_flavor(_flavor(minimum_cpu='2',
                                    **{'hw:cpu_policy': 'shared'}))


class TestExtraSpecsUpdate(test.NoDBTestCase):

    def test_setting_minimum_above_maximum(self):
        exc = self.assertRaises(
            exception.ValidationError, sizing.check_extra_specs_update,
            _flavor(), {'minimum_cpu': '8'})
        self.assertIn("cannot exceed the flavor's vcpus (4)", str(exc))

    def test_setting_conflict_with_existing_minimum(self):
        self.assertRaises(
            exception.ValidationError, sizing.check_extra_specs_update,
            _flavor(minimum_cpu='2'), {'hw:cpu_policy': 'dedicated'})

    def test_resource_overrides_refused_with_a_minimum(self):
        # either order: the override onto a minimum, or the other way
        for flavor, specs in (
                (_flavor(minimum_cpu='2'), {'resources:VCPU': '3'}),
                (_flavor(**{'resources:VCPU': '3'}), {'minimum_cpu': '2'}),
                (_flavor(minimum_memory='512'),
                 {'resources:MEMORY_MB': '1024'}),
                (_flavor(**{'resources:MEMORY_MB': '1024'}),
                 {'minimum_memory': '512'})):
            exc = self.assertRaises(
                exception.ValidationError, sizing.check_extra_specs_update,
                flavor, specs)
            self.assertIn('cannot be combined with resources:', str(exc))

    def test_resource_override_of_the_other_resource_is_fine(self):
        sizing.check_extra_specs_update(_flavor(minimum_cpu='2'),
                                        {'resources:MEMORY_MB': '1024'})

    def test_unrelated_update_of_old_bad_flavor(self):
        # a flavor that predates the checks can still get other specs
        sizing.check_extra_specs_update(_flavor(minimum_cpu='8'),
                                        {'hw:numa_nodes': '1'})

    def test_valid(self):
        sizing.check_extra_specs_update(
            _flavor(), {'minimum_cpu': '4', 'minimum_memory': '512'})


class ResizingIntoTestCase(test.NoDBTestCase):
    """A resize into a flavor starts over at its minimum (A -> B -> A)."""

    def _instance(self, old_flavor):
        instance = objects.Instance(flavor=fakes.flavor(),
                                    old_flavor=old_flavor,
                                    system_metadata=fakes.adjusted_sysmeta())
        return instance

    def test_resizing_into_ignores_the_old_record(self):
        other = objects.Flavor(flavorid='other', vcpus=8, memory_mb=4096,
                               extra_specs={})
        instance = self._instance(other)
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.next_boot(instance))
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.live(instance))

    def test_same_flavor_move_keeps_the_record(self):
        # a cold migration, or a revert (old_flavor is the flavor again)
        instance = self._instance(fakes.flavor())
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         records.next_boot(instance))

    def test_no_resize(self):
        instance = self._instance(None)
        self.assertEqual({'vcpus': 2, 'memory_mb': 1024},
                         records.live(instance))


class RevertTestCase(test.NoDBTestCase):
    """A revert gives back the next-boot size the resize replaced.

    The steps are those of the compute: the destination records what the
    resized guest runs at, then a revert sets the flavor back and the
    source records what the reverted guest runs at.
    """

    def setUp(self):
        super().setUp()
        self.a = fakes.flavor()  # 1-4 vCPUs, 512-2048 MiB
        self.b = objects.Flavor(flavorid='b', vcpus=8, memory_mb=4096,
                                extra_specs={'minimum_cpu': '2',
                                             'minimum_memory': '768'})
        # persisted 3 / 1536 on A; running at 2 / 1024 for this boot only
        self.instance = objects.Instance(flavor=self.a, old_flavor=None,
                                         system_metadata={})
        records.record(self.instance, {'vcpus': 3, 'memory_mb': 1536},
                      persist=True)
        records.record(self.instance, {'vcpus': 2, 'memory_mb': 1024},
                      persist=False)

    def _resize(self, old, new):
        # finish_resize at the destination: the guest boots at the new
        # flavor's next-boot size, which is what it records
        self.instance.old_flavor, self.instance.flavor = old, new
        records.record(self.instance, records.next_boot(self.instance),
                      persist=False)

    def _revert(self):
        # the source: flavor back, then the guest boots at next_boot()
        old = self.instance.old_flavor
        self.instance.flavor = old
        boots_at = records.next_boot(self.instance)
        records.record(self.instance, boots_at, persist=False)
        return boots_at

    def _confirm(self):
        self.instance.old_flavor = None

    def test_revert_gives_back_the_next_boot_size(self):
        self._resize(self.a, self.b)
        self.assertEqual({'vcpus': 2, 'memory_mb': 768},
                         records.next_boot(self.instance))
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536}, self._revert())
        self._confirm()  # the stash is gone; the record is A's again
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536},
                         records.live(self.instance))
        self.assertEqual({'vcpus': 3, 'memory_mb': 1536},
                         records.next_boot(self.instance))
        self.assertNotIn(records.SYSMETA_OLD_FLAVOR,
                         self.instance.system_metadata)

    def test_confirm_then_back_starts_at_the_minimum(self):
        self._resize(self.a, self.b)
        self._confirm()
        self._resize(self.b, self.a)
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.next_boot(self.instance))
        self._confirm()
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.next_boot(self.instance))

    def test_revert_of_the_way_back_gives_back_b(self):
        self._resize(self.a, self.b)
        self._confirm()
        records.record(self.instance, {'vcpus': 6, 'memory_mb': 3072},
                      persist=True)
        self._resize(self.b, self.a)
        self.assertEqual({'vcpus': 6, 'memory_mb': 3072}, self._revert())
        self._confirm()
        self.assertEqual({'vcpus': 6, 'memory_mb': 3072},
                         records.next_boot(self.instance))

    def test_revert_of_a_server_never_adjusted(self):
        self.instance = objects.Instance(
            flavor=self.a, old_flavor=None, system_metadata={},
            vm_state=vm_states.BUILDING)
        records.note_boot(self.instance)  # built at its minimum
        self.instance.vm_state = vm_states.ACTIVE
        self._resize(self.a, self.b)
        self.assertEqual({'vcpus': 1, 'memory_mb': 512}, self._revert())

    def test_revert_of_a_server_with_no_record(self):
        # built before XLoud was installed, at its maximum
        self.instance = objects.Instance(
            flavor=self.a, old_flavor=None, system_metadata={},
            vm_state=vm_states.ACTIVE)
        self._resize(self.a, self.b)
        self.assertEqual({'vcpus': 2, 'memory_mb': 768},
                         records.next_boot(self.instance))
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048}, self._revert())


class NoRecordTestCase(test.NoDBTestCase):
    """A server with no record runs at what it was booted at."""

    def _instance(self, vm_state, sysmeta=None):
        return objects.Instance(flavor=fakes.flavor(), old_flavor=None,
                                vm_state=vm_state,
                                system_metadata=sysmeta or {})

    def test_built_before_xloud_runs_at_its_maximum(self):
        instance = self._instance(vm_states.ACTIVE)
        self.assertFalse(records.has_record(instance))
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.live(instance))
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.next_boot(instance))

    def test_built_by_xloud_at_its_minimum_with_a_record(self):
        instance = self._instance(vm_states.BUILDING)
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.next_boot(instance))
        records.note_boot(instance)
        instance.vm_state = vm_states.ACTIVE
        self.assertTrue(records.has_record(instance))
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.live(instance))
        self.assertEqual({'vcpus': 1, 'memory_mb': 512},
                         records.next_boot(instance))

    def test_a_boot_of_a_server_with_no_record_records_its_maximum(self):
        instance = self._instance(vm_states.STOPPED)
        records.note_boot(instance)  # a start: upstream's domain, at max
        self.assertTrue(records.has_record(instance))
        self.assertEqual({'vcpus': 4, 'memory_mb': 2048},
                         records.next_boot(instance))


class VcpusPluggedTestCase(test.NoDBTestCase):
    """A capped guest's remaining vCPUs are recorded, and forgotten."""

    def setUp(self):
        super().setUp()
        self.instance = objects.Instance(
            flavor=fakes.flavor(), old_flavor=None,
            system_metadata=fakes.adjusted_sysmeta())

    def test_recorded_while_capped(self):
        records.record(self.instance, {'vcpus': 1, 'vcpus_plugged': 3,
                                      'memory_mb': 1024}, persist=False)
        self.assertEqual(3, records.vcpus_plugged(self.instance))
        self.assertEqual(1, records.live(self.instance)['vcpus'])
        # an adjust that ends uncapped forgets it
        records.record(self.instance, {'vcpus': 3, 'memory_mb': 1024},
                      persist=False)
        self.assertIsNone(records.vcpus_plugged(self.instance))
        self.assertNotIn(records.SYSMETA_VCPUS_PLUGGED,
                         self.instance.system_metadata)

    def test_not_capped(self):
        self.assertIsNone(records.vcpus_plugged(self.instance))
        records.record(self.instance, {'vcpus': 2, 'vcpus_plugged': 2,
                                      'memory_mb': 1024}, persist=False)
        self.assertIsNone(records.vcpus_plugged(self.instance))

    def test_a_new_domain_has_no_cap(self):
        records.record(self.instance, {'vcpus': 1, 'vcpus_plugged': 3,
                                      'memory_mb': 1024}, persist=False)
        records.note_boot(self.instance)
        self.assertIsNone(records.vcpus_plugged(self.instance))
        self.assertNotIn(records.SYSMETA_VCPUS_PLUGGED,
                         self.instance.system_metadata)
