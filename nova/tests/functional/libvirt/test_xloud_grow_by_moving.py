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

"""Growing on a full host: ``"live_migrate": true`` moves the server.

Two hosts with cpu_allocation_ratio=1.0; the server boots on src at its
flavor's minimum (1 vCPU) and src is filled so that it cannot grow there.
Each expected size comes from the request, never from what the system
reports.
"""

import datetime
import time
from unittest import mock

import fixtures
from oslo_serialization import jsonutils
from oslo_utils import timeutils

from nova import context as nova_context
from nova import objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_xloud_moves
from nova.xloud import moving


class GrowByMovingTest(test_xloud_moves.TwoHostsTestBase):

    def setUp(self):
        super().setUp()
        self.server = self._create_server(flavor_id=self.flavor, host='src',
                                          networks='none')
        self.filler = self._fill('src', leave=0)

    def _host(self):
        return self.admin_api.get_server(
            self.server['id'])['OS-EXT-SRV-ATTR:host']

    def _where(self):
        """Where the server is, and its sizes there.

        (host, {host: (VCPU, MEMORY_MB)} of its allocations, the live
        vCPUs of its domain, GET's current vCPUs)
        """
        allocations = self._get_allocations_by_server_uuid(self.server['id'])
        held = {}
        for host in ('src', 'dest'):
            rp = self._get_provider_uuid_by_host(host)
            if rp in allocations:
                res = allocations[rp]['resources']
                held[host] = (res['VCPU'], res['MEMORY_MB'])
        host = self._host()
        return (host, held, self._sizes(self.server, host)[1],
                self._get(self.server)['vcpus']['current'])

    def _wait_settled(self):
        for _ in range(400):
            found = self.admin_api.get_server(self.server['id'])
            if (found['OS-EXT-STS:task_state'] is None and
                    not moving.pending(self._instance())):
                return found
            time.sleep(0.05)
        self.fail('the adjust never ended: %s' % found)

    def _instance(self):
        return objects.Instance.get_by_uuid(
            nova_context.get_admin_context(), self.server['id'],
            expected_attrs=['system_metadata'])

    def _message(self, code, **body):
        text = self._refused(code, self.server, **body)
        [answer] = jsonutils.loads(text).values()
        return answer['message']

    def _assert_no_host_fits(self):
        """A grow to 3 vCPUs with live_migrate: 409, nothing changed."""
        before = self._where()
        text = self._message(409, current_vcpus=3, live_migrate=True)
        self.assertIn('No other host can run server', text)
        self.assertEqual(before, self._where())
        self.assertEqual([], self._migrations())

    def _migrations(self):
        return self.admin_api.get_migrations()

    def _actions(self):
        return sorted(a['action'] for a in
                      self.api.get_instance_actions(self.server['id']))

    def test_full_host_says_live_migrate_would_move(self):
        before = self._where()
        text = self._message(409, current_vcpus=3)
        self.assertIn('lacks the capacity for VCPU=3', text)
        self.assertIn('"live_migrate": true', text)
        self.assertEqual(before, self._where())
        self.assertEqual([], self._migrations())

    def test_grows_on_another_host(self):
        self.notifier.reset()
        resp = self._post(self.server, current_vcpus=3, live_migrate=True)
        self.assertEqual(202, resp.status)
        # the source ends the migration once the destination has begun
        # the grow
        self._wait_for_migration_status(self.server, ['completed'])
        self._wait_settled()
        # the size asked for, on dest; src holds nothing any more
        self.assertEqual(('dest', {'dest': (3, 512)}, 3, 3), self._where())
        [migration] = self._migrations()
        self.assertEqual('live-migration', migration['migration_type'])
        self.assertEqual('completed', migration['status'])
        self.assertEqual(['create', 'live-migration', 'xloud-adjust'],
                         self._actions())
        self.assertIsNone(self._get(self.server)['phase'])
        # both steps notify: upstream's live migration, then our grow
        events = [n['event_type']
                  for n in self.notifier.versioned_notifications]
        for step in ('instance.live_migration_pre.start',
                     'instance.live_migration_post_dest.end',
                     'instance.live_migration_post.end',
                     'instance.xloud_adjust.start',
                     'instance.xloud_adjust.end'):
            self.assertIn(step, events)
        # the grow begins once the guest runs on the destination
        self.assertLess(
            events.index('instance.live_migration_post_dest.end'),
            events.index('instance.xloud_adjust.start'))
        [end] = [n['payload'] for n in self.notifier.versioned_notifications
                 if n['event_type'] == 'instance.xloud_adjust.end']
        self.assertEqual('dest', end['nova_object.data']['host'])
        # persisted by default: the next boot keeps it
        self.assertEqual(3, self._get(self.server)['vcpus']['next_boot'])

    def test_no_host_fits_changes_nothing(self):
        self._fill('dest', leave=2)
        before = self._where()
        text = self._message(409, current_vcpus=3, live_migrate=True)
        self.assertIn('No other host can run server', text)
        self.assertEqual(before, self._where())
        self.assertEqual([], self._migrations())
        self.assertEqual(['create'], self._actions())
        self.assertIsNone(moving.pending(self._instance()))

    def test_fits_here_grows_in_place(self):
        self._delete_server(self.filler)
        self._adjust(self.server, current_vcpus=3, live_migrate=True)
        self.assertEqual(('src', {'src': (3, 512)}, 3, 3), self._where())
        self.assertEqual([], self._migrations())

    def test_shrink_never_moves(self):
        self._delete_server(self.filler)
        self._adjust(self.server, current_vcpus=3)
        self._fill('src', leave=0)
        self._adjust(self.server, current_vcpus=2, live_migrate=True)
        self.assertEqual(('src', {'src': (2, 512)}, 2, 2), self._where())
        self.assertEqual([], self._migrations())

    def test_failed_migration_stays_on_the_source(self):
        def fail(domain, destination, params, flags):
            # the hypervisor's job fails, as upstream's tests fail one
            # (test_vgpu's VGPULiveMigrationTestsLMFailed)
            self.src.driver._host.get_connection().lookupByUUIDString(
                self.server['id']).fail_job()
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3', fail))
        resp = self._post(self.server, current_vcpus=3, live_migrate=True)
        self.assertEqual(202, resp.status)
        self._wait_for_migration_status(self.server, ['error', 'failed'])
        # the periodic task forgets the grow the move was for
        self.src.manager._xloud_resolve_lost_adjusts(
            nova_context.get_admin_context())
        self._wait_settled()
        self.assertEqual(('src', {'src': (1, 512)}, 1, 1), self._where())
        # where it failed, on the move's action, and as a fault
        self._wait_for_instance_action_event(
            self.server, 'live-migration', moving.MOVE_EVENT, 'Error')
        fault = objects.InstanceFault.get_latest_for_instance(
            nova_context.get_admin_context(), self.server['id'])
        self.assertIn('to grow it to 3 vCPUs and 512 MiB, failed; it runs '
                      'on src at the size it had', fault.message)
        self.assertIsNone(self._get(self.server)['phase'])

    def test_grow_failing_on_the_destination_stays_there(self):
        error = fakelibvirt.make_libvirtError(
            fakelibvirt.libvirtError, 'vcpu hotplug failed',
            error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR)
        with mock.patch.object(fakelibvirt.Domain, 'setVcpusFlags',
                               side_effect=error):
            resp = self._post(self.server, current_vcpus=3,
                              live_migrate=True)
            self.assertEqual(202, resp.status)
            self._wait_for_migration_status(self.server, ['completed'])
            self._wait_settled()
        # moved, at the size it had; the claim of the grow is given back
        self.assertEqual(('dest', {'dest': (1, 512)}, 1, 1), self._where())
        self._wait_for_instance_action_event(
            self.server, 'xloud-adjust', 'compute_xloud_adjust', 'Error')
        fault = objects.InstanceFault.get_latest_for_instance(
            nova_context.get_admin_context(), self.server['id'])
        self.assertIn('vcpu hotplug failed', fault.message)

    def test_honours_the_servers_availability_zone(self):
        # a server that asked for src's zone: dest, which has the room, is
        # in another zone, so no host fits
        # (a host with servers cannot change its zone)
        for server in (self.filler, self.server):
            self._delete_server(server)
            self._wait_until_deleted(server)
        agg = self._create_aggregate('zone-src', availability_zone='zone-src')
        self.admin_api.add_host_to_aggregate(agg, 'src')
        self.server = self._create_server(flavor_id=self.flavor,
                                          az='zone-src', networks='none')
        self.filler = self._fill('src', leave=0)
        self._assert_no_host_fits()

    def test_honours_the_servers_group(self):
        # an anti-affinity group with a member on dest, which has the
        # room: no host fits
        for server in (self.filler, self.server):
            self._delete_server(server)
            self._wait_until_deleted(server)
        group = self.api.post_server_groups(
            {'name': 'apart', 'policy': 'anti-affinity'})
        members = []
        for host in ('src', 'dest'):
            body = self._build_server(flavor_id=self.flavor,
                                      networks='none')
            body['host'] = host
            server = self.api.post_server(
                {'server': body,
                 'os:scheduler_hints': {'group': group['id']}})
            members.append(self._wait_for_state_change(server, 'ACTIVE'))
        self.server = members[0]
        self.filler = self._fill('src', leave=0)
        self._assert_no_host_fits()

    def test_a_lost_grow_message_after_the_move_resolves(self):
        # the guest arrived, the grow's message to dest is lost: dest's
        # periodic task resolves it from what the guest has
        self.flags(adjust_timeout=10, group='xloud')
        with mock.patch('nova.xloud.rpcapi.XloudComputeAPI.xloud_adjust'):
            resp = self._post(self.server, current_vcpus=3,
                              live_migrate=True)
            self.assertEqual(202, resp.status)
            self._wait_for_migration_status(self.server, ['completed'])
        self.assertEqual('adjusting', self._get(self.server)['phase'])
        # [xloud] adjust_timeout later
        with mock.patch('oslo_utils.timeutils.utcnow', return_value=(
                timeutils.utcnow() + datetime.timedelta(seconds=11))):
            self.dest.manager._xloud_resolve_lost_adjusts(
                nova_context.get_admin_context())
        self._wait_settled()
        # on dest at the size it had, its allocation its guest's
        self.assertEqual(('dest', {'dest': (1, 512)}, 1, 1), self._where())
        self._wait_for_instance_action_event(
            self.server, 'xloud-adjust', 'compute_xloud_adjust', 'Error')
