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

"""Growing on a full host by moving the server: the record, the question
to the scheduler, the move, the grow on arrival, a failed move.
"""

import datetime
from unittest import mock

import fixtures
from oslo_utils.fixture import uuidsentinel as uuids
from oslo_utils import timeutils

from nova.compute import task_states
from nova.compute import vm_states
import nova.conf
from nova import context
from nova import exception
from nova import objects
from nova import test
from nova.tests.unit.xloud import fakes
from nova.xloud import api as xloud_api
from nova.xloud import inflight
from nova.xloud import moving
from nova.xloud import placement

CONF = nova.conf.CONF
GROWN = {'vcpus': 4, 'memory_mb': 2048}


def _instance(**updates):
    fields = dict(uuid=uuids.instance, host='src', node='src-node',
                  locked=False, vm_state=vm_states.ACTIVE, task_state=None,
                  flavor=fakes.flavor(),
                  system_metadata=fakes.adjusted_sysmeta())
    fields.update(updates)
    return objects.Instance(**fields)


class RecordTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.RequestContext('fake-user', 'fake-project')

    def test_noted_and_forgotten(self):
        instance = _instance()
        self.assertIsNone(moving.pending(instance))
        moving.note(self.context, instance, 'dest', GROWN, False)
        self.assertEqual(dict(GROWN, persist=False, host='dest',
                              request_id=self.context.request_id),
                         moving.pending(instance))
        moving.forget(instance)
        self.assertIsNone(moving.pending(instance))

    def test_unreadable_is_none(self):
        for raw in ('{', '[]', '{"vcpus": 2}', '{"vcpus": "x"}'):
            instance = _instance()
            instance.system_metadata[moving.SYSMETA_MOVE] = raw
            self.assertIsNone(moving.pending(instance), raw)

    def test_phase(self):
        instance = _instance()
        self.assertIsNone(moving.phase(instance))
        instance.task_state = task_states.MIGRATING
        # an upstream live migration is not ours to show
        self.assertIsNone(moving.phase(instance))
        moving.note(self.context, instance, 'dest', GROWN, True)
        self.assertEqual('moving', moving.phase(instance))
        # arrived, its grow about to begin
        instance.task_state = None
        self.assertEqual('moving', moving.phase(instance))
        instance.task_state = inflight.ADJUSTING
        self.assertEqual('adjusting', moving.phase(instance))

    def test_hinted(self):
        spec = objects.RequestSpec(scheduler_hints={})
        self.assertIsNone(moving.hinted(spec))
        spec.scheduler_hints[moving.HINT] = ['4', '2048']
        self.assertEqual(GROWN, moving.hinted(spec))
        spec.scheduler_hints[moving.HINT] = ['4']
        self.assertIsNone(moving.hinted(spec))


class FindHostTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.RequestContext('fake-user', 'fake-project')
        self.spec = objects.RequestSpec(
            instance_uuid=uuids.instance, scheduler_hints={'group': ['g']},
            force_hosts=['src'], force_nodes=['src-node'])
        self.useFixture(fixtures.MockPatch(
            'nova.objects.RequestSpec.get_by_instance_uuid',
            return_value=self.spec))
        self.select = self.useFixture(fixtures.MockPatch(
            'nova.scheduler.client.query.SchedulerQueryClient.'
            'select_destinations')).mock

    def test_asks_without_claiming(self):
        self.select.return_value = [[objects.Selection(
            service_host='dest', nodename='dest-node')]]
        self.assertEqual(('dest', 'dest-node'),
                         moving.find_host(self.context, _instance(), GROWN))
        # no instance UUIDs: the scheduler selects and claims nothing
        self.select.assert_called_once_with(
            self.context, self.spec, None, return_objects=True,
            return_alternates=False)
        self.assertEqual(['src'], self.spec.ignore_hosts)
        self.assertIsNone(self.spec.force_hosts)
        self.assertEqual({'group': ['g'], moving.HINT: ['4', '2048']},
                         self.spec.scheduler_hints)

    def test_no_host(self):
        self.select.side_effect = exception.NoValidHost(reason='')
        exc = self.assertRaises(moving.XloudNoHostFits, moving.find_host,
                                self.context, _instance(), GROWN)
        self.assertIn('at 4 vCPUs and 2048 MiB', exc.format_message())


class StartTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.RequestContext('fake-user', 'fake-project')
        self.compute_api = mock.Mock()

    def test_noted_for_the_live_migration(self):
        instance = _instance()

        def live_migrate(ctxt, inst, *args, **kwargs):
            # the note is on the instance the live migration saves
            self.assertEqual('dest', moving.pending(inst)['host'])
        self.compute_api.live_migrate.side_effect = live_migrate
        moving.start(self.compute_api, self.context, instance, 'dest',
                     GROWN, True)
        self.compute_api.live_migrate.assert_called_once_with(
            self.context, instance, None, None, 'dest', force=False,
            async_=True)

    def test_refused_changes_nothing(self):
        instance = _instance()
        self.compute_api.live_migrate.side_effect = (
            exception.InstanceInvalidState(
                attr='vm_state', instance_uuid=uuids.instance,
                state='paused', method='live_migrate'))
        exc = self.assertRaises(moving.XloudCannotMove, moving.start,
                                self.compute_api, self.context, instance,
                                'dest', GROWN, True)
        self.assertIn('cannot be live-migrated', exc.format_message())
        self.assertIsNone(moving.pending(instance))


class ArrivedTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.manager = mock.Mock(host='dest')
        self.save = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.save')).mock
        self.action_start = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceAction.action_start')).mock
        self.cast = self.useFixture(fixtures.MockPatch(
            'nova.xloud.rpcapi.XloudComputeAPI.xloud_adjust')).mock

    def _arrived(self, persist=True, **updates):
        instance = _instance(host='dest', **updates)
        moving.note(self.context, instance, 'dest', GROWN, persist)
        return instance, moving.arrived(self.manager, self.context,
                                        instance)

    def test_begins_the_grow(self):
        instance, began = self._arrived(persist=False)
        self.assertTrue(began)
        self.assertIsNone(moving.pending(instance))
        self.assertEqual(inflight.ADJUSTING, instance.task_state)
        self.save.assert_called_once_with(expected_task_state=[None])
        token = inflight.token(instance)
        self.assertIsNotNone(token)
        # an action of its own, under the grow's token
        ctxt = self.action_start.call_args.args[0]
        self.assertEqual(token, ctxt.request_id)
        self.assertEqual('xloud-adjust', self.action_start.call_args.args[2])
        self.cast.assert_called_once_with(ctxt, instance, 4, 2048, False)

    def test_only_on_the_host_it_moved_to(self):
        instance = _instance(host='src')
        moving.note(self.context, instance, 'dest', GROWN, True)
        self.manager.host = 'src'
        self.assertFalse(moving.arrived(self.manager, self.context,
                                        instance))
        self.assertIsNotNone(moving.pending(instance))
        self.cast.assert_not_called()

    def test_nothing_without_a_note(self):
        self.assertFalse(moving.arrived(self.manager, self.context,
                                        _instance(host='dest')))
        self.save.assert_not_called()

    def test_another_task_took_it(self):
        self.save.side_effect = exception.UnexpectedTaskStateError(
            instance_uuid=uuids.instance, expected=None,
            actual='rebooting')
        with mock.patch('nova.objects.Instance.refresh'):
            _instance, began = self._arrived()
        self.assertFalse(began)
        self.cast.assert_not_called()


class FailedMovesTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.manager = mock.Mock(host='src')
        self.save = self.useFixture(fixtures.MockPatch(
            'nova.objects.Instance.save')).mock
        self.get = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceList.get_by_filters')).mock
        self.event_start = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceActionEvent.event_start')).mock
        self.event_finish = self.useFixture(fixtures.MockPatch(
            'nova.objects.InstanceActionEvent.'
            'event_finish_with_failure')).mock
        self.fault = self.useFixture(fixtures.MockPatch(
            'nova.compute.utils.add_instance_fault_from_exc')).mock

    def test_forgets_a_grow_whose_move_failed(self):
        failed = _instance(host='src')
        asked = context.RequestContext('admin', 'admin')
        self.request_id = asked.request_id
        moving.note(asked, failed, 'dest', GROWN, True)
        plain = _instance(host='src', uuid=uuids.plain)
        self.get.return_value = [failed, plain]
        moving.unfinished_moves(self.manager, self.context)
        self.get.assert_called_once_with(
            self.context, {'host': 'src', 'task_state': None,
                           'deleted': False},
            expected_attrs=['system_metadata'])
        self.assertIsNone(moving.pending(failed))
        self.save.assert_called_once_with(expected_task_state=[None])
        # said on the move's action (the request's), with a fault
        ctxt = self.event_start.call_args.args[0]
        self.assertEqual(self.request_id, ctxt.request_id)
        self.event_start.assert_called_once_with(
            ctxt, uuids.instance, moving.MOVE_EVENT, want_result=False,
            host='src')
        error = self.event_finish.call_args.kwargs['exc_val']
        self.assertIn('to dest, to grow it to 4 vCPUs and 2048 MiB, '
                      'failed; it runs on src at the size it had',
                      error.format_message())
        self.fault.assert_called_once_with(ctxt, failed, error)

    @mock.patch('nova.xloud.moving.arrived')
    def test_grows_one_that_arrived_here_once_it_waited(self, arrived):
        here = _instance(host='src', updated_at=timeutils.utcnow())
        moving.note(self.context, here, 'src', GROWN, True)
        self.get.return_value = [here]
        moving.unfinished_moves(self.manager, self.context)
        # just arrived: its grow may be beginning now
        arrived.assert_not_called()
        here.updated_at = timeutils.utcnow() - datetime.timedelta(
            seconds=CONF.xloud.adjust_timeout)
        moving.unfinished_moves(self.manager, self.context)
        arrived.assert_called_once_with(self.manager, self.context, here)
        self.save.assert_not_called()


class ApiTestCase(test.NoDBTestCase):
    """nova.xloud.api.API.adjust with live_migrate."""

    def setUp(self):
        super().setUp()
        self.context = context.RequestContext('fake-user', 'fake-project')
        self.compute_api = mock.Mock()
        self.api = xloud_api.API(compute_api=self.compute_api)
        self.full = placement.XloudHostFull(uuid=uuids.instance,
                                            resources='VCPU=4')
        self.in_place = self.useFixture(fixtures.MockPatchObject(
            xloud_api.API, '_adjust', side_effect=self.full)).mock
        self.find = self.useFixture(fixtures.MockPatch(
            'nova.xloud.moving.find_host',
            return_value=('dest', 'dest-node'))).mock
        self.start = self.useFixture(fixtures.MockPatch(
            'nova.xloud.moving.start')).mock

    def test_full_without_live_migrate_says_it_would_move(self):
        exc = self.assertRaises(placement.XloudHostFull, self.api.adjust,
                                self.context, _instance(), vcpus=4)
        self.assertIn('"live_migrate": true', exc.format_message())
        self.assertIn('VCPU=4', exc.format_message())
        self.find.assert_not_called()

    def test_full_with_live_migrate_moves_to_grow(self):
        instance = _instance()
        self.api.adjust(self.context, instance, vcpus=4, persist=False,
                        live_migrate=True)
        # memory not asked: it stays what the server runs at (1024 MiB,
        # fakes.adjusted_sysmeta)
        sizes = {'vcpus': 4, 'memory_mb': 1024}
        self.find.assert_called_once_with(self.context, instance, sizes)
        self.start.assert_called_once_with(
            self.compute_api, self.context, instance, 'dest', sizes, False)

    def test_fits_here_never_moves(self):
        self.in_place.side_effect = None
        self.api.adjust(self.context, _instance(), vcpus=4,
                        live_migrate=True)
        self.find.assert_not_called()
        self.start.assert_not_called()
