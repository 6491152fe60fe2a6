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

"""The XLoud request filters of the scheduler."""

import fixtures
from oslo_utils.fixture import uuidsentinel as uuids

from nova.compute import task_states
from nova import context
from nova import exception
from nova import objects
from nova.scheduler import request_filter
from nova import test
from nova.tests.unit.xloud import fakes
from nova.xloud import moving
from nova.xloud import scheduling


def _spec(flavor=None):
    return objects.RequestSpec(instance_uuid=uuids.instance,
                               flavor=flavor or fakes.flavor())


class RequireMinimumSupportTestCase(test.NoDBTestCase):

    def test_registered(self):
        self.assertIn(scheduling.require_minimum_support,
                      request_filter.ALL_REQUEST_FILTERS)
        self.assertIn(scheduling.size_moves,
                      request_filter.ALL_REQUEST_FILTERS)

    def test_minimum_flavor_requires_the_trait(self):
        spec = _spec()
        self.assertTrue(scheduling.require_minimum_support(None, spec))
        self.assertEqual({'CUSTOM_XLOUD_ADJUST'}, spec.root_required)

    def test_plain_flavor_does_not(self):
        spec = _spec(objects.Flavor(flavorid='plain', vcpus=4,
                                    memory_mb=2048, extra_specs={}))
        self.assertTrue(scheduling.require_minimum_support(None, spec))
        self.assertEqual(set(), spec.root_required)


class SizeMovesTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.mapping = objects.InstanceMapping(
            instance_uuid=uuids.instance,
            cell_mapping=objects.CellMapping(uuid=uuids.cell,
                                             database_connection='fake:///',
                                             transport_url='fake:///'))
        self.get_mapping = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceMapping.get_by_instance_uuid',
            return_value=self.mapping)).mock
        self.useFixture(fixtures.MockPatch(
            'nova.context.target_cell')).mock.return_value.__enter__ \
            .return_value = self.context
        # adjusted: live 3 vCPUs / 1536 MiB, next boot 2 / 1024
        sysmeta = dict(fakes.adjusted_sysmeta(), xloud_live_vcpus='3',
                       xloud_live_memory_mb='1536')
        self.instance = objects.Instance(
            uuid=uuids.instance, flavor=fakes.flavor(), task_state=None,
            system_metadata=sysmeta)
        self.get_instance = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.get_by_uuid',
            return_value=self.instance)).mock

    def _sized(self, spec=None):
        spec = spec or _spec()
        self.assertTrue(scheduling.size_moves(self.context, spec))
        return spec.vcpus, spec.memory_mb

    def test_a_new_server_gets_the_minimum(self):
        self.get_mapping.side_effect = exception.InstanceMappingNotFound(
            uuid=uuids.instance)
        self.assertEqual((1, 512), self._sized())

    def test_a_build_request_gets_the_minimum(self):
        self.mapping.cell_mapping = None
        self.assertEqual((1, 512), self._sized())
        self.get_instance.assert_not_called()

    def test_cold_moves_claim_the_next_boot(self):
        for state in (task_states.RESIZE_PREP, task_states.REBUILDING,
                      task_states.UNSHELVING):
            self.instance.task_state = state
            self.assertEqual((2, 1024), self._sized())

    def test_live_migration_claims_the_live_size(self):
        self.instance.task_state = task_states.MIGRATING
        self.assertEqual((3, 1536), self._sized())

    def test_a_move_to_grow_claims_the_size_it_grows_to(self):
        self.instance.task_state = task_states.MIGRATING
        moving.note(self.context, self.instance, "dest",
                    {"vcpus": 4, "memory_mb": 2048},
                    True)
        self.assertEqual((4, 2048), self._sized())

    def test_the_question_where_it_fits_asks_for_the_hinted_size(self):
        spec = _spec()
        spec.scheduler_hints = {moving.HINT: ['4', '1536']}
        self.assertEqual((4, 1536), self._sized(spec))

    def test_resize_to_another_flavor_gets_its_minimum(self):
        other = objects.Flavor(flavorid='xl2', vcpus=8, memory_mb=4096,
                               extra_specs={'minimum_cpu': '2',
                                            'minimum_memory': '768'})
        self.assertEqual((2, 768), self._sized(_spec(other)))

    def test_plain_flavor_is_not_looked_up(self):
        plain = objects.Flavor(flavorid='plain', vcpus=4, memory_mb=2048,
                               extra_specs={})
        self.assertEqual((4, 2048), self._sized(_spec(plain)))
        self.get_mapping.assert_not_called()

    def test_sizes_are_never_saved_or_sent(self):
        spec = _spec()
        scheduling.size_moves(self.context, spec)
        self.assertEqual(2, spec.vcpus)
        primitive = spec.obj_to_primitive()
        self.assertNotIn('_xloud_move_sizes',
                         str(primitive['nova_object.data']))
        # what the scheduler would get over RPC is the minimum again
        received = objects.RequestSpec.obj_from_primitive(primitive)
        self.assertEqual((1, 512), (received.vcpus, received.memory_mb))
