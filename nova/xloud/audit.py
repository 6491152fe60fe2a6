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

"""``nova-manage xloud audit``: the invariant, checked across the cloud.

Placement must hold exactly what each adjustable server runs at. The audit
lists every server whose allocation on the host it runs on differs from
the sizes its record says it runs at, and every adjust that has been in
flight longer than ``[xloud]adjust_timeout``. With ``--fix`` it asks the
compute host of each such server to set the allocation to what the
hypervisor says the guest has, under the server's lock and only if the
server has no task and its record has not changed since the audit read
it; and the host of each stuck adjust to resolve it from the hypervisor.
The audit never writes an allocation itself: what it read may be stale
by the time it acts.
"""

import oslo_messaging as messaging

from nova.cmd import common as cmd_common
import nova.conf
from nova import context as nova_context
from nova import exception
from nova.i18n import _
from nova import objects
from nova.scheduler.client import report
from nova import servicegroup
from nova.xloud import inflight
from nova.xloud import placement
from nova.xloud import records
from nova.xloud import rpcapi
from nova.xloud import sizing

CONF = nova.conf.CONF
args = cmd_common.args

#: Exit codes: nothing found; found (and, with --fix, all fixed); found,
#: and some could not be fixed.
CLEAN, FOUND, UNFIXED = 0, 1, 2
BATCH = 50


def _amounts(sizes):
    return {'VCPU': sizes['vcpus'], 'MEMORY_MB': sizes['memory_mb']}


def _show(amounts):
    return ' '.join('%s=%s' % (rc, amounts.get(rc)) for rc in
                    placement.CLASSES)


class Audit:

    def __init__(self, fix, output):
        self.fix = fix
        self.output = output
        self.found = 0
        self.unfixed = 0
        self.checked = 0
        self.reportclient = report.report_client_singleton()
        self.servicegroup_api = servicegroup.API()
        self.rpcapi = rpcapi.XloudComputeAPI()

    def run(self, ctxt):
        for cell in objects.CellMappingList.get_all(ctxt):
            if cell.is_cell0():
                continue
            with nova_context.target_cell(ctxt, cell) as cctxt:
                self._cell(cctxt)
        self.output(_('%(checked)d adjustable servers checked, %(found)d '
                      'found, %(unfixed)d not fixed.') % {
            'checked': self.checked, 'found': self.found,
            'unfixed': self.unfixed})
        if self.unfixed:
            return UNFIXED
        return FOUND if self.found else CLEAN

    def _cell(self, cctxt):
        marker = None
        while True:
            instances = objects.InstanceList.get_by_filters(
                cctxt, {'deleted': False}, sort_key='created_at',
                sort_dir='asc', limit=BATCH, marker=marker,
                expected_attrs=['flavor', 'system_metadata'])
            if not instances:
                return
            marker = instances[-1].uuid
            for instance in instances:
                self._server(cctxt, instance)

    def _server(self, cctxt, instance):
        flavor = instance.flavor
        if not sizing.has_minimum(flavor):
            return
        if not instance.host or not instance.node:
            return  # e.g. shelved offloaded: it holds no allocation
        if instance.task_state == inflight.ADJUSTING:
            self.checked += 1
            self._in_flight(cctxt, instance)
        elif instance.task_state is None:
            # any other task (a move, a reboot) may change the allocation
            # legitimately while it runs
            self.checked += 1
            self._allocation(cctxt, instance)

    def _report(self, kind, instance, what, fixed=None):
        self.found += 1
        line = '%s: server %s on %s: %s' % (kind, instance.uuid,
                                           instance.host, what)
        if fixed is not None:
            line += '; ' + fixed
        self.output(line)

    def _allocation(self, cctxt, instance):
        try:
            rp_uuid = placement.provider_of(cctxt, instance)
            _rp, allocated = placement.current(
                self.reportclient, cctxt, instance.uuid, rp_uuid=rp_uuid)
        except Exception as e:
            self.unfixed += 1
            self._report('error', instance,
                         _('cannot read its allocation: %s') % e)
            return
        runs_at = _amounts(records.live(instance))
        if allocated == runs_at:
            return
        what = _('allocation %(alloc)s, but it runs at %(runs)s') % {
            'alloc': _show(allocated), 'runs': _show(runs_at)}
        if not self.fix:
            return self._report('drift', instance, what)
        if not self._host_is_up(cctxt, instance):
            self.unfixed += 1
            return self._report('drift', instance, what,
                                _('could not fix: its host is down'))
        try:
            outcome, sizes = self.rpcapi.xloud_heal(
                cctxt, instance, records.record_of(instance))
        except Exception as e:
            self.unfixed += 1
            return self._report('drift', instance, what,
                                _('could not fix: %s') % e)
        if outcome != 'healed':
            self.unfixed += 1
            why = (_('it has a task now') if outcome == 'busy' else
                   _('it changed since it was read'))
            return self._report('drift', instance, what,
                                _('skipped: %s; run the audit again') % why)
        self._report('drift', instance, what,
                     _('fixed: allocation %s, as its hypervisor has it') %
                     _show(_amounts(sizes)))

    def _host_is_up(self, cctxt, instance):
        try:
            service = objects.Service.get_by_compute_host(cctxt,
                                                          instance.host)
        except exception.NotFound:
            return False
        return self.servicegroup_api.service_is_up(service)

    def _in_flight(self, cctxt, instance):
        age = inflight.age(instance).total_seconds()
        if age < CONF.xloud.adjust_timeout:
            return  # still on its way
        what = _('an adjust has been in flight for %d seconds') % age
        if not self.fix:
            return self._report('stuck', instance, what)
        if not self._host_is_up(cctxt, instance):
            self.unfixed += 1
            return self._report(
                'stuck', instance, what,
                _('could not fix: its host is down; its nova-compute '
                  'resolves the adjust when it starts'))
        try:
            sizes = self.rpcapi.xloud_resolve(cctxt, instance)
        except messaging.RemoteError as e:
            self.unfixed += 1
            if e.exc_type == 'XloudServerBusy':
                # its adjust (or another operation) is still running: the
                # host answered at once rather than wait for it
                return self._report(
                    'stuck', instance, what,
                    _('skipped: it is busy; run the audit again'))
            return self._report('stuck', instance, what,
                                _('could not fix: %s') % e.value)
        except Exception as e:
            self.unfixed += 1
            return self._report('stuck', instance, what,
                                _('could not fix: %s') % e)
        if sizes is None:
            fixed = _('it ended meanwhile')
        else:
            fixed = _('resolved by its host at %s') % _show(_amounts(sizes))
        self._report('stuck', instance, what, fixed)


class XloudCommands:
    """Commands for XLoud live adjust."""

    @args('--fix', action='store_true', dest='fix', default=False,
          help='Ask the compute host of each drifted server to set its '
               'allocation to what the hypervisor says the guest has '
               '(a server that has a task or changed since it was read '
               'is skipped), and the compute host of each stuck adjust '
               'to resolve it from the hypervisor.')
    def audit(self, fix=False):
        """Check that placement holds what each adjustable server uses.

        Lists each server whose allocation differs from the size it runs
        at ("drift"), and each adjust in flight for longer than
        [xloud]adjust_timeout ("stuck"). Return codes:

        * 0: nothing found
        * 1: something was found (with --fix: and all of it fixed)
        * 2: something was found and could not be fixed
        """
        ctxt = nova_context.get_admin_context()
        return Audit(fix, print).run(ctxt)
