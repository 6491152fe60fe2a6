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

"""What a server runs at, against a model of what the admin set.

A stateful property test (Hypothesis): two or three servers on two
computes go through random sequences of lifecycle operations. A model
keeps each server's size now ("live") and its next-boot size, written
from the table "What a server runs at after each operation" in
doc/source/admin/xloud-live-resize.rst (each rule below names its row),
not from the code under test. After every step the domain, the placement
allocation, GET /os-xloud-adjust and the audit must all say what the
model says, and no task may be left.

It is seeded and bounded: XLOUD_MODEL_EXAMPLES sequences (10 by default)
of up to XLOUD_MODEL_STEPS steps (8) from XLOUD_MODEL_SEED; for example
XLOUD_MODEL_EXAMPLES=2000 for a long run. A failure names the seed and
prints the shortest sequence Hypothesis found, as calls to replay.

Besides the operations, the rules bring what lies outside a single
request: a server built before XLoud was installed (no record, at its
maximum); an adjust that ends while ``audit --fix`` works from what it
read, or that is accepted as a reboot ends and makes the allocation follow
the guest; an adjust an older build left in flight with no token; a
flavor author who sets ``resources:VCPU`` beside ``minimum_cpu``; and an
operator who changes ``[xloud] memory_overhead_mb``.

A live migration is modelled where an adjust with ``live_migrate``
makes one (the fake libvirt's migration moves the domain to the host the
destination URI names). Not modelled yet, so never generated:
evacuation, rescue, a plain live migration (test_xloud_paths covers each
on its own),
and a boot that grows a guest (back to its next-boot size) on a host with
no room for it, whose intended outcome the table does not yet give. The
fake libvirt keeps a memory limit and shows it, but does not enforce it:
nova/tests/hypervisor holds a real guest to it.
"""

import io
import os
import time
from unittest import mock

import fixtures
from hypothesis import configuration
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import stateful
from hypothesis import strategies as st
from hypothesis import Verbosity
from lxml import etree

from nova.cmd import manage
from nova import context as nova_context
from nova import objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.fixtures import xloud_ceilometer
from nova.tests.functional.libvirt import test_xloud_adjust
from nova.xloud import inflight
from nova.xloud import placement

EXAMPLES = int(os.environ.get('XLOUD_MODEL_EXAMPLES', '10'))
STEPS = int(os.environ.get('XLOUD_MODEL_STEPS', '8'))
SEED = int(os.environ.get('XLOUD_MODEL_SEED', '20261206'))
#: Print every sequence as it runs.
VERBOSE = bool(os.environ.get('XLOUD_MODEL_VERBOSE'))

HOSTS = ('host1', 'host2')
#: MiB each host has for guests (placement's MEMORY_MB capacity): room for
#: three servers at 1024, or one at its maximum and one at 1024. VCPU
#: (4 cores at the 4.0 allocation ratio) never runs short here.
CAPACITY_MB = 3072
RESERVED_MB = 512  # [DEFAULT] reserved_host_memory_mb
FAKE_DISK_MOVE = ('nova.virt.libvirt.driver.LibvirtDriver'
                  '.migrate_disk_and_power_off')

#: The two flavors, as (minimum, maximum) of (vCPUs, MiB).
FLAVORS = {'a': ((1, 512), (4, 2048)), 'b': ((2, 1024), (4, 2048))}
MEMORY_SIZES = (512, 1024, 1536, 2048)
#: [xloud] memory_overhead_mb values an operator may set.
DEFAULT_OVERHEAD_MB = 256
OVERHEADS_MB = (128, DEFAULT_OVERHEAD_MB, 512, 768)

RUNNING = ('ACTIVE', 'PAUSED', 'SUSPENDED', 'RESCUE', 'VERIFY_RESIZE')


def having(*states):
    """A rule applies only while some server is in one of ``states``."""
    return stateful.precondition(
        lambda m: any(s.state in states for s in m.servers))


class Server:
    """What the model holds of one server."""

    def __init__(self, uuid, host, flavor, legacy=False):
        self.uuid = uuid
        self.host = host
        self.flavor = flavor
        # booted at its flavor's minimum (the table's premise); or, by an
        # upstream compute before XLoud was installed, at its maximum (row
        # "a server with no XLoud record")
        self.legacy = legacy
        self.live = FLAVORS[flavor][1 if legacy else 0]
        self.next = self.live
        self.state = 'ACTIVE'
        self.resize = None  # (old flavor, old next, old live, old host)

    def __repr__(self):
        return ('Server(%s on %s, flavor %s, %s, live %s, next boot %s)' %
                (self.uuid[:8], self.host, self.flavor, self.state,
                 self.live, self.next))


class Machine(stateful.RuleBasedStateMachine):
    """The model, and the rules that act on the cloud and on it."""

    #: The XloudModelTest whose cloud the rules act on.
    test = None

    def __init__(self):
        super().__init__()
        self.servers = []

    # -- the model's arithmetic --------------------------------

    def used(self, host, but=None):
        """MiB allocated on ``host`` (a resize holds both)."""
        total = 0
        for s in self.servers:
            if s is but or s.state == 'SHELVED_OFFLOADED':
                continue
            if s.host == host:
                total += s.live[1]
            if s.resize and s.resize[3] == host:
                total += s.resize[2][1]
        return total

    def room(self, host, size, but=None):
        return self.used(host, but) + size[1] <= CAPACITY_MB

    def grows_in_place(self, s, size):
        extra = size[1] - s.live[1]
        return extra <= 0 or self.used(s.host) + extra <= CAPACITY_MB

    def pick(self, index, states):
        found = [s for s in self.servers if s.state in states]
        return found[index % len(found)] if found else None

    def say(self, what, s=None):
        if VERBOSE:
            print('  %s %s' % (what, s if s is not None else ''),
                  flush=True)

    def act(self, uuid, action):
        self.test.notifier.reset()
        self.test.api.post_server_action(uuid, action)

    # -- the servers -------------------------------------------

    @stateful.initialize(
        count=st.integers(2, 3),
        sizes=st.lists(st.tuples(
            st.integers(1, 3), st.sampled_from((512, 1024)),
            st.integers(1, 3), st.sampled_from((512, 1024))),
            min_size=3, max_size=3),
        legacy=st.booleans())
    def boot(self, count, sizes, legacy):
        """Servers that run at other sizes than they boot at.

        Each is adjusted twice: with persist, then without, so
        that the size it runs at and its next-boot size differ
        (within what both hosts can hold at every step). With
        ``legacy``, the last one was built before XLoud was installed
        on its host: it runs at its maximum, and has no record.
        """
        for n in range(count):
            host = HOSTS[n % 2]
            old = legacy and n == count - 1
            found = self.test._create_server(
                flavor_id=self.test.flavor_ids['legacy' if old else 'a'],
                host=host, networks='none')
            if old:
                self.test.install_xloud_under(found['id'])
            self.servers.append(Server(found['id'], host, 'a', old))
        for s, (v1, m1, v2, m2) in zip(self.servers, sizes):
            if s.legacy:
                continue  # it keeps what upstream gave it
            for size, persist in (((v1, m1), True),
                                  ((v2, m2), False)):
                self.say('adjust %s %s' % (size, persist), s)
                resp = self.post(s, size, persist)
                self.adjusted(s, size, persist, resp)

    def teardown(self):
        # the next sequence starts from the option's default, as from
        # empty hosts: nothing one sequence does may change the next
        self.test.flags(memory_overhead_mb=DEFAULT_OVERHEAD_MB,
                        group='xloud')
        # soft delete is on: force the deletes, so that the next
        # sequence starts on empty hosts
        for s in self.servers:
            self.test.api.delete_server(s.uuid)
        for s in self.servers:
            if s.state != 'SHELVED_OFFLOADED':  # deleted at once
                self.test._wait_for_state_change({'id': s.uuid},
                                            'SOFT_DELETED')
                self.test.api.post_server_action(s.uuid,
                                            {'forceDelete': None})
            self.test._wait_until_deleted({'id': s.uuid})

    # -- the rules: one per row of the table ---------------------

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2),
                   vcpus=st.integers(1, 4),
                   memory=st.sampled_from(MEMORY_SIZES),
                   persist=st.booleans())
    def adjust(self, index, vcpus, memory, persist):
        s = self.pick(index, ('ACTIVE',))
        self.say('adjust %s %s %s' % (vcpus, memory, persist), s)
        size = self.within(s, vcpus, memory)
        resp = self.post(s, size, persist)
        self.adjusted(s, size, persist, resp)

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2),
                   vcpus=st.integers(1, 4),
                   memory=st.sampled_from(MEMORY_SIZES),
                   persist=st.booleans())
    def adjust_moving(self, index, vcpus, memory, persist):
        """An adjust with live_migrate: where it grows past its host's
        room, the server moves, live, to a host with room, and grows there.
        """
        s = self.pick(index, ('ACTIVE',))
        self.say('adjust_moving %s %s %s' % (vcpus, memory, persist), s)
        size = self.within(s, vcpus, memory)
        if self.grows_in_place(s, size):
            # row "adjust to S": it fits, nothing moves
            resp = self.post(s, size, persist, live_migrate=True)
            self.adjusted(s, size, persist, resp)
            return
        hosts = [h for h in HOSTS if h != s.host and self.room(h, size)]
        resp = self.post(s, size, persist, live_migrate=True)
        if not hosts:
            # row "adjust to S with live_migrate, no host with room (409)"
            self.test.assertEqual(409, resp.status)
            return
        # row "adjust to S with live_migrate, its host without room": on
        # another host with room, at S; S next too with persist
        self.test.assertEqual(202, resp.status)
        self.test._wait_for_migration_status({'id': s.uuid},
                                             ['completed'])
        self.test._wait_settled(s.uuid, 'ACTIVE')
        s.host = hosts[0]
        s.live = size
        if persist:
            s.next = size

    def within(self, s, vcpus, memory):
        """The size nearest (vcpus, memory) in ``s``'s envelope."""
        low, high = FLAVORS[s.flavor]
        return (min(max(vcpus, low[0]), high[0]),
                min(max(memory, low[1]), high[1]))

    def post(self, s, size, persist, live_migrate=False):
        body = {'current_vcpus': size[0], 'current_memory_mb': size[1],
                'persist': persist}
        if live_migrate:
            body['live_migrate'] = True
        return self.test.admin_api.api_post(
            self.test._url({'id': s.uuid}), body,
            check_response_status=[202, 409])

    def adjusted(self, s, size, persist, resp, fits=None):
        # row "adjust ... refused (409: host full)"
        if not (self.grows_in_place(s, size) if fits is None else fits):
            self.test.assertEqual(409, resp.status)
            return
        self.test.assertEqual(202, resp.status)
        self.test._wait_for_adjust({'id': s.uuid})
        # rows "adjust to S with / without persist"
        s.live = size
        if persist:
            s.next = size

    def boots(self, s):
        """A boot of ``s``'s guest is modelled where it fits."""
        return self.grows_in_place(s, s.next)

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2), hard=st.booleans())
    def reboot(self, index, hard):
        s = self.pick(index, ('ACTIVE',))
        if s is None or not self.boots(s):
            return
        self.say('reboot', s)
        # row "hard reboot; ...; soft reboot": N
        self.test._reboot_server({'id': s.uuid}, hard=hard)
        s.live = s.next

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2))
    def stop(self, index):
        s = self.pick(index, ('ACTIVE',))
        if s is None:
            return
        self.say('stop', s)
        # row "stop": the allocation stays L
        self.test._stop_server({'id': s.uuid})
        s.state = 'SHUTOFF'

    @having('SHUTOFF')
    @stateful.rule(index=st.integers(0, 2))
    def start(self, index):
        s = self.pick(index, ('SHUTOFF',))
        if s is None or not self.boots(s):
            return
        self.say('start', s)
        self.test._start_server({'id': s.uuid})
        s.state, s.live = 'ACTIVE', s.next

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2), suspend=st.booleans())
    def pause_and_back(self, index, suspend):
        s = self.pick(index, ('ACTIVE',))
        if s is None:
            return
        self.say('pause_and_back', s)
        # row "pause and unpause; suspend and resume": L
        if suspend:
            self.test._suspend_server({'id': s.uuid})
            s.state = 'SUSPENDED'
            self.test.check(self)
            self.test._resume_server({'id': s.uuid})
        else:
            self.act(s.uuid, {'pause': None})
            self.test._wait_for_state_change({'id': s.uuid}, 'PAUSED')
            s.state = 'PAUSED'
            self.test.check(self)
            self.act(s.uuid, {'unpause': None})
            self.test._wait_for_state_change({'id': s.uuid}, 'ACTIVE')
        s.state = 'ACTIVE'

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2))
    def shelve(self, index):
        s = self.pick(index, ('ACTIVE',))
        if s is None:
            return
        self.say('shelve', s)
        self.test._shelve_server({'id': s.uuid})
        s.state = 'SHELVED_OFFLOADED'
        # row "shelve, and unshelve": nothing is allocated
        s.live = s.next

    @having('SHELVED_OFFLOADED')
    @stateful.rule(index=st.integers(0, 2))
    def unshelve(self, index):
        s = self.pick(index, ('SHELVED_OFFLOADED',))
        if s is None:
            return
        self.say('unshelve', s)
        hosts = [h for h in HOSTS if self.room(h, s.next, but=s)]
        if not hosts:
            return  # no host has room: not modelled here
        self.test.notifier.reset()
        found = self.test._unshelve_server({'id': s.uuid})
        host = found['OS-EXT-SRV-ATTR:host']
        self.test.assertIn(host, hosts, s)
        s.state, s.host, s.live = 'ACTIVE', host, s.next

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2))
    def rebuild(self, index):
        s = self.pick(index, ('ACTIVE',))
        if s is None or not self.boots(s):
            return
        self.say('rebuild', s)
        image = self.test.api.get_server(s.uuid)['image']['id']
        self.test.notifier.reset()
        self.test._rebuild_server({'id': s.uuid}, image)
        # row "rebuild; ...": N
        s.live = s.next

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2), resize=st.booleans())
    def move(self, index, resize):
        """A resize to the other flavor, or a cold migration."""
        s = self.pick(index, ('ACTIVE',))
        if s is None:
            return
        self.say('resize' if resize else 'migrate', s)
        flavor = ('b' if s.flavor == 'a' else 'a') if resize \
            else s.flavor
        # row "resize to flavor B": its minimum; a cold migration
        # boots at N
        size = FLAVORS[flavor][0] if resize else s.next
        hosts = [h for h in HOSTS
                 if h != s.host and self.room(h, size)]
        self.test.notifier.reset()
        if resize:
            self.act(s.uuid, {'resize': {
                'flavorRef': self.test.flavor_ids[flavor]}})
        else:
            self.act(s.uuid, {'migrate': None})
        if not hosts:
            # No valid host: it stays where it was, as it was
            self.test._wait_for_migration_status({'id': s.uuid},
                                            ['error'])
            return
        found = self.test._wait_for_state_change({'id': s.uuid},
                                            'VERIFY_RESIZE')
        self.test.assertIn(found['OS-EXT-SRV-ATTR:host'], hosts, s)
        s.resize = (s.flavor, s.next, s.live, s.host)
        s.state, s.flavor = 'VERIFY_RESIZE', flavor
        s.host = found['OS-EXT-SRV-ATTR:host']
        s.live = s.next = size

    @having('VERIFY_RESIZE')
    @stateful.rule(index=st.integers(0, 2), confirm=st.booleans())
    def finish_move(self, index, confirm):
        s = self.pick(index, ('VERIFY_RESIZE',))
        if s is None:
            return
        self.say('finish_move', s)
        old_flavor, old_next, _old_live, old_host = s.resize
        if not confirm and not self.grows_in_place_at(
                old_host, s, old_next):
            return
        self.test.notifier.reset()
        if confirm:
            self.test._confirm_resize({'id': s.uuid})
        else:
            self.test._revert_resize({'id': s.uuid})
            # row "revert of that resize": N of before, boots at it
            s.flavor, s.host = old_flavor, old_host
            s.live = s.next = old_next
        s.state, s.resize = 'ACTIVE', None

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2))
    def resize_and_revert(self, index):
        """A resize to the other flavor, reverted at once.

        The same two steps as move() then finish_move(); one rule, so
        that sequences reach a revert of a server whose sizes were set
        as often as they reach the other paths.
        """
        self.move(index, resize=True)
        s = self.pick(index, ('VERIFY_RESIZE',))
        if s is not None:
            self.finish_move(index, confirm=False)

    def grows_in_place_at(self, host, s, size):
        # the source holds what it ran at before; the revert boots
        # the old next-boot size there
        held = s.resize[2][1]
        return (self.used(host) - held + size[1] <= CAPACITY_MB or
                size[1] <= held)

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2))
    def soft_delete_and_restore(self, index):
        s = self.pick(index, ('ACTIVE',))
        if s is None or not self.boots(s):
            return
        self.say('soft_delete_and_restore', s)
        self.test.api.delete_server(s.uuid)
        self.test._wait_for_state_change({'id': s.uuid}, 'SOFT_DELETED')
        self.act(s.uuid, {'restore': None})
        self.test._wait_for_state_change({'id': s.uuid}, 'ACTIVE')
        # row "soft delete, then restore": N
        s.live = s.next

    @having('ACTIVE', 'SHUTOFF')
    @stateful.rule(index=st.integers(0, 2))
    def heal_allocations(self, index):
        s = self.pick(index, ('ACTIVE', 'SHUTOFF'))
        if s is None:
            return
        self.say('heal_allocations', s)
        with mock.patch('sys.stdout', new=io.StringIO()):
            code = manage.PlacementCommands().heal_allocations(
                verbose=True, instance_uuid=s.uuid, force=True)
        # row "heal_allocations": L
        self.test.assertEqual(0, code)

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2),
                   vcpus=st.integers(1, 4),
                   memory=st.sampled_from(MEMORY_SIZES),
                   persist=st.booleans())
    def audit_fix_racing_adjust(self, index, vcpus, memory, persist):
        """``audit --fix``, with an adjust that ends after its read."""
        s = self.pick(index, ('ACTIVE',))
        self.say('audit_fix_racing_adjust %s %s %s' % (
            vcpus, memory, persist), s)
        size = self.within(s, vcpus, memory)
        read = objects.InstanceList.get_by_filters
        raced = []

        def read_then_adjust(*args, **kwargs):
            found = read(*args, **kwargs)
            if not raced:
                raced.append(True)
                self.adjusted(s, size, persist, self.post(s, size, persist))
            return found
        with mock.patch('nova.objects.InstanceList.get_by_filters',
                        side_effect=read_then_adjust):
            code, out = self.test._audit(fix=True)
        # row "nova-manage xloud audit --fix": a server that changed
        # since the audit read it is skipped, and the audit says so
        if code:
            self.test.assertEqual(2, code, out)
            self.test.assertIn('skipped: it changed since it was read', out)

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2),
                   vcpus=st.integers(1, 4),
                   memory=st.sampled_from(MEMORY_SIZES),
                   persist=st.booleans())
    def reboot_racing_adjust(self, index, vcpus, memory, persist):
        """An adjust accepted as a hard reboot ends.

        A reboot ends its task, then makes the allocation follow the
        rebooted guest; the adjust comes in between, while placement
        still holds what the server ran at before the reboot. Right
        after the follow, the adjust is still in flight (its message
        waits for the compute), so its claim must still be there.
        """
        s = self.pick(index, ('ACTIVE',))
        if s is None or not self.boots(s):
            return
        self.say('reboot_racing_adjust %s %s %s' % (
            vcpus, memory, persist), s)
        size = self.within(s, vcpus, memory)
        fits = self.grows_in_place(s, size)
        # What the API reads as the server's size when it takes the adjust:
        # the reboot has booted the guest at N and recorded it (row "hard
        # reboot"); the adjust claims what it grows beyond that.
        grown = [i for i in (0, 1) if size[i] > s.next[i]]
        follow = placement.follow_guest
        answers = []
        allocated = []

        def adjust_then_follow(*args, **kwargs):
            if answers:
                return follow(*args, **kwargs)
            answers.append(self.post(s, size, persist))
            try:
                return follow(*args, **kwargs)
            finally:
                allocated.append(self.test._allocated(s.uuid, s.host))
        with mock.patch.object(placement, 'follow_guest',
                               side_effect=adjust_then_follow):
            self.test._reboot_server({'id': s.uuid}, hard=True)
            # the API shows the server ACTIVE once the reboot's task ends,
            # which can be just before the compute follows the guest
            # (bounded: under a loaded machine that can take seconds)
            deadline = time.monotonic() + 60
            while not answers and time.monotonic() < deadline:
                time.sleep(0.05)
            self.test.assertTrue(answers, 'the reboot never followed the '
                                 'guest: %s' % s)
            # row "while an adjust to S is in flight": at least S in each
            # resource it grows, even as the reboot's follow ran
            if answers[0].status == 202:
                for i in grown:
                    self.test.assertGreaterEqual(allocated[0][i], size[i],
                                                 (s, allocated[0]))
            # row "hard reboot": N; then the adjust's rows
            s.live = s.next
            self.adjusted(s, size, persist, answers[0], fits=fits)

    @stateful.rule(group=st.sampled_from(('', '1')),
                   resource=st.sampled_from(('VCPU', 'MEMORY_MB')))
    def override_beside_a_minimum(self, group, resource):
        """A flavor author sets resources:VCPU beside minimum_cpu."""
        self.say('override_beside_a_minimum resources%s:%s' % (
            group, resource))
        url = '/flavors/%s/os-extra_specs' % self.test.flavor_ids['a']
        before = self.test.admin_api.api_get(url).body
        resp = self.test.admin_api.api_post(
            url, {'extra_specs': {'resources%s:%s' % (group, resource): '2'}},
            check_response_status=[200, 400])
        # refused, and nothing changes (the "Limitations" table)
        self.test.assertEqual(400, resp.status)
        self.test.assertEqual(before, self.test.admin_api.api_get(url).body)

    @having('ACTIVE')
    @stateful.rule(index=st.integers(0, 2))
    def adjust_left_without_token(self, index):
        """An adjust an older build began (no token), then its compute
        restarts.
        """
        s = self.pick(index, ('ACTIVE',))
        self.say('adjust_left_without_token', s)
        instance = objects.Instance.get_by_uuid(
            nova_context.get_admin_context(), s.uuid)
        instance.task_state = inflight.ADJUSTING
        instance.save()
        self.test.assertIsNone(inflight.token(instance))
        # row "nova-compute restarts during an adjust": what the guest
        # has, which is L
        self.test.restart_compute_service(s.host)

    @stateful.rule(host=st.sampled_from(HOSTS))
    def restart_compute(self, host):
        # its guests keep running: nothing changes
        self.say('restart_compute', host)
        self.test.restart_compute_service(host)

    @stateful.rule(overhead=st.sampled_from(OVERHEADS_MB))
    def change_memory_overhead(self, overhead):
        """An operator changes [xloud] memory_overhead_mb everywhere.

        Then restarts every nova-compute, as a change of the option needs.
        Each running guest keeps the limit it has until its next boot or
        memory adjust; whatever reads its size back meanwhile (a soft
        reboot's follow-the-guest, say) must not take the new overhead
        from that limit.
        """
        self.say('change_memory_overhead %d' % overhead)
        self.test.flags(memory_overhead_mb=overhead, group='xloud')
        for host in HOSTS:
            self.test.restart_compute_service(host)
        # row "[xloud] memory_overhead_mb changes": nothing changes

    @stateful.invariant()
    def matches_the_model(self):
        if self.servers:
            self.test.check(self)


class XloudModelTest(test_xloud_adjust.XloudAdjustTestBase):

    # Longer than one test (OS_TEST_TIMEOUT): the sequences, then up to
    # Hypothesis's five minutes of shrinking a failure to its shortest.
    TIMEOUT_SCALING_FACTOR = 4 + EXAMPLES // 5

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=False)
        self.flags(reclaim_instance_interval=3600)
        self.flags(shelved_offload_time=0)
        self.flags(reserved_host_memory_mb=RESERVED_MB)
        # what billing rates: Ceilometer's meters over what Nova sends
        self.flags(notification_format='versioned', group='notifications')
        self.gauges = xloud_ceilometer.Gauges(
            self.notifier.versioned_notifications)
        for host in HOSTS:
            self.start_compute(host, host_info=fakelibvirt.HostInfo(
                cpu_nodes=1, cpu_sockets=1, cpu_cores=4, cpu_threads=1,
                # the fake's getInfo() answers it as libvirt's MiB
                kB_mem=CAPACITY_MB + RESERVED_MB))
        self.flavor_ids = {
            name: self._flavor(
                vcpus=high[0], memory_mb=high[1],
                minimum_cpu=str(low[0]), minimum_memory=str(low[1]))
            for name, (low, high) in FLAVORS.items()}
        # what upstream booted servers with: the same sizes, no minimums
        high = FLAVORS['a'][1]
        self.flavor_ids['legacy'] = self._flavor(vcpus=high[0],
                                                 memory_mb=high[1])
        self.useFixture(fixtures.MockPatch(FAKE_DISK_MOVE,
                                           return_value='{}'))
        # libvirt gives a domain a new ID each time it starts; the fake
        # gives one only when the domain is defined, and -1 once it stops.
        # Nova's soft reboot waits for the ID to change, so a second soft
        # reboot in a row of the same domain would wait [libvirt]
        # wait_soft_reboot_seconds (120 s) and fall back to a hard reboot.
        mark_running = fakelibvirt.Connection._mark_running

        def started(connection, domain):
            domain._id = connection._id_counter
            mark_running(connection, domain)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Connection._mark_running', started))
        # a live migration: the guest goes on, as it was, on the host the
        # destination URI names
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3',
            self._live_migrated))

    def _live_migrated(self, domain, destination, params, flags):
        [host] = [h for h in HOSTS if '//%s/' % h in destination]
        self.computes[host].driver._host.get_connection().createXML(
            params['destination_xml'],
            'fake-createXML-doesnt-care-about-flags')
        domain.complete_job()

    def install_xloud_under(self, uuid):
        """XLoud is installed under a server upstream booted.

        The flavor's minimums were set while nothing used them (upstream
        ignores them), so the server's copy of the flavor has them too.
        """
        instance = objects.Instance.get_by_uuid(
            nova_context.get_admin_context(), uuid)
        low = FLAVORS['a'][0]
        instance.flavor.extra_specs = {'minimum_cpu': str(low[0]),
                                       'minimum_memory': str(low[1])}
        for key in list(instance.system_metadata):
            if key.startswith('xloud_'):
                del instance.system_metadata[key]
        instance.save()

    # -- what the system says ------------------------------------------

    def _domain_size(self, uuid, host):
        conn = self.computes[host].driver._host.get_connection()
        doc = etree.fromstring(conn.lookupByUUIDString(uuid).XMLDesc(0))
        vcpu = doc.find('vcpu')
        return (int(vcpu.get('current') or vcpu.text),
                int(doc.find('currentMemory').text) // 1024)

    def _read_back(self, uuid, host):
        instance = objects.Instance.get_by_uuid(
            nova_context.get_admin_context(), uuid)
        sizes = self.computes[host].driver.xloud_sizes(instance)
        return (sizes['vcpus'], sizes['memory_mb'])

    def _allocated(self, uuid, host):
        allocations = self._get_allocations_by_server_uuid(uuid)
        rp = self._get_provider_uuid_by_host(host)
        resources = allocations.get(rp, {}).get('resources', {})
        return (resources.get('VCPU'), resources.get('MEMORY_MB'))

    def _view(self, uuid):
        view = self._get({'id': uuid})
        return ((view['vcpus']['current'], view['memory_mb']['current']),
                (view['vcpus']['next_boot'],
                 view['memory_mb']['next_boot']))

    def _audit(self, fix=False):
        out = io.StringIO()
        with mock.patch('sys.stdout', new=out):
            code = manage.CATEGORIES['xloud']().audit(fix=fix)
        return code, out.getvalue()

    def _wait_settled(self, uuid, status):
        server = self._wait_for_state_change({'id': uuid}, status)
        for _ in range(100):
            if server['OS-EXT-STS:task_state'] is None:
                return server
            server = self.admin_api.get_server(uuid)
        self.fail('server %s kept task state %s' % (
            uuid, server['OS-EXT-STS:task_state']))

    def check(self, model):
        """Every server: domain, what nova reads back from it, allocation,
        GET, audit, billing == model.
        """
        for server in model.servers:
            found = self._wait_settled(server.uuid, server.state)
            self.assertIsNone(found['OS-EXT-STS:task_state'], server)
            where = (None if server.state == 'SHELVED_OFFLOADED'
                     else server.host)
            self.assertEqual(where, found['OS-EXT-SRV-ATTR:host'], server)
            live, next_boot = self._view(server.uuid)
            self.assertEqual(server.next, next_boot, server)
            if server.state == 'SHELVED_OFFLOADED':
                self.assertEqual({}, self._get_allocations_by_server_uuid(
                    server.uuid), server)
                continue
            self.assertEqual(server.live, live, server)
            self.assertEqual(server.live,
                             self._allocated(server.uuid, server.host),
                             server)
            if server.state in RUNNING:
                self.assertEqual(server.live,
                                 self._domain_size(server.uuid, server.host),
                                 server)
                # and what nova reads back from the hypervisor (follow the
                # guest, resolve, the audit's heal): the same size
                self.assertEqual(server.live,
                                 self._read_back(server.uuid, server.host),
                                 server)
            rated = self.gauges.of(server.uuid)
            if rated is None and server.legacy:
                # never sent yet: XLoud was installed under it here
                # without a restart of its nova-compute; a real install
                # restarts it, which records the guest and tells its size
                continue
            self.assertEqual(server.live, rated and (rated['vcpus'],
                                                     rated['memory_mb']),
                             server)
        code, out = self._audit()
        self.assertEqual(0, code, out)

    def test_the_size_the_admin_set(self):
        Machine.test = self
        self.addCleanup(setattr, Machine, 'test', None)
        # Hypothesis keeps its files (a cache of constants) out of the
        # tree, which must stay clean for the packages built from it.
        configuration.set_hypothesis_home_dir(
            self.useFixture(fixtures.TempDir()).path)
        self.addCleanup(configuration.set_hypothesis_home_dir, None)
        # Every run with the same seed tries the same sequences. (The
        # seed Hypothesis takes from pytest's --hypothesis-seed.)
        self.useFixture(fixtures.MonkeyPatch(
            'hypothesis.core.global_force_seed', SEED))
        try:
            stateful.run_state_machine_as_test(
                Machine, settings=settings(
                    max_examples=EXAMPLES, stateful_step_count=STEPS,
                    deadline=None, database=None, print_blob=True,
                    verbosity=(Verbosity.verbose if VERBOSE
                               else Verbosity.normal),
                    suppress_health_check=list(HealthCheck)))
        except Exception as e:
            raise AssertionError(
                'the model found a sequence (replay it with '
                'XLOUD_MODEL_SEED=%d XLOUD_MODEL_EXAMPLES=%d): %s' % (
                    SEED, EXAMPLES, e)) from e
