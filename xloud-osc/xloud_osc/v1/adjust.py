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

"""``openstack server adjust`` and ``openstack server adjust show``."""

import argparse
import logging
import time

from osc_lib.cli import format_columns
from osc_lib.command import command
from osc_lib import exceptions

from xloud_osc import sizes
from xloud_osc.v1 import client as xclient

LOG = logging.getLogger(__name__)

#: The envelope's resources, as GET names them, and how a person reads one.
RESOURCES = (('vcpus', '{} vCPUs'), ('memory_mb', '{} MiB'))


class AdjustServer(command.Command):
    """Grow or shrink a running server's vCPUs and memory, live.

    The new sizes must lie within the envelope of the server's flavor
    (its minimum_cpu / minimum_memory extra specs up to its vcpus /
    memory_mb). The compute host applies the change after the API has
    accepted it: the command returns then, or, with the wait option, once
    the change is done.
    """

    #: Seconds between two looks at the server while waiting.
    poll_interval = 2
    #: Seconds --wait waits by default: far longer than an adjust takes
    #: (a memory shrink waits up to a minute for the guest's balloon).
    wait_timeout = 300

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            'server',
            metavar='<server>',
            help='Server to adjust (name or ID)')
        parser.add_argument(
            '--vcpus',
            metavar='<count>',
            type=sizes.vcpus,
            help='Number of vCPUs the server runs with')
        parser.add_argument(
            '--memory',
            metavar='<size>',
            type=sizes.memory_mb,
            help='Memory the server runs with: MiB (1536) or a number '
                 'with a unit M, G or T (2048M, 1.5G; G is GiB)')
        parser.add_argument(
            '--no-persist',
            dest='persist',
            action='store_false',
            help='Keep the new sizes only until the server next boots; '
                 'by default its next boot uses them too')
        parser.add_argument(
            '--live-migrate',
            action='store_true',
            help='Where the server\'s host lacks the room to grow it: move '
                 'the server, live, to a host that has the room, and grow '
                 'it there (needs the live-migration policy too). A growth '
                 'that fits, and a shrink, never move the server')
        parser.add_argument(
            '--wait',
            action='store_true',
            help='Wait for the adjust to finish; exit non-zero with the '
                 'fault when it failed, or when it has not finished within '
                 'the wait timeout')
        parser.add_argument(
            '--wait-timeout',
            metavar='<seconds>',
            type=_positive_int,
            default=self.wait_timeout,
            help='With --wait: how long to wait, in seconds (default: '
                 '%(default)s). Errors of the compute API (5xx, no answer) '
                 'while waiting are retried until then.')
        return parser

    def take_action(self, parsed_args):
        if parsed_args.vcpus is None and parsed_args.memory is None:
            raise exceptions.CommandError(
                'Nothing to adjust: give --vcpus, --memory or both')
        client = self.app.client_manager.xloud
        server = client.find_server(parsed_args.server)
        request_id = client.adjust(server.id, vcpus=parsed_args.vcpus,
                                   memory_mb=parsed_args.memory,
                                   persist=parsed_args.persist,
                                   live_migrate=parsed_args.live_migrate)
        LOG.debug('adjust of server %s accepted as request %s', server.id,
                  request_id)
        if parsed_args.wait:
            requested = {'vcpus': parsed_args.vcpus,
                         'memory_mb': parsed_args.memory}
            self._wait(client, server, request_id, requested,
                       parsed_args.wait_timeout, parsed_args.live_migrate)

    def _progress(self, text):
        out = self.app.stdout
        if getattr(out, 'isatty', lambda: False)():
            out.write(f'\r{text}')
            out.flush()

    def _wait(self, client, server, request_id, requested, timeout,
              live_migrate=False):
        """Follow the adjust to its end; raise when it failed.

        The API sets the server's task_state before it answers 202, and
        the compute host clears it when the adjust is over, whatever its
        outcome; the outcome is in the adjust's instance action. With
        ``live_migrate`` the server may move first: the move is over when
        the envelope's phase is, and its outcome is in its live-migration
        action, then the grow's is in an xloud-adjust action of its own. A
        look
        the compute API fails (5xx, or no answer) is retried until
        ``timeout`` seconds have passed since the adjust was accepted.
        """
        name = server.name or server.id
        start = time.monotonic()
        progressed = False
        while True:
            try:
                action, state = self._look(client, server, name,
                                           request_id, progressed,
                                           live_migrate)
                if state is None:
                    self._end_progress(progressed)
                    _raise_if_failed(name, action)
                    envelope = client.show(server.id)
                    break
            except xclient.APIError as e:
                if not e.transient:
                    raise
                LOG.debug('Looking at server %s failed, retrying: %s',
                          server.id, e)
                state = f'the compute API failed: {e}'
            waited = time.monotonic() - start
            if waited >= timeout:
                self._end_progress(progressed)
                raise exceptions.CommandError(
                    f'Gave up waiting for the adjust of server {name} '
                    f'after {waited:.0f} s ({state}); "openstack server '
                    f'adjust show {name}" shows where it stands')
            progressed = True
            self._progress(f'Adjusting server {name}: {state} '
                           f'({waited:.0f} s)')
            time.sleep(min(self.poll_interval, timeout - waited))
        now = {field: (envelope.get(field) or {}).get('current')
               for field, _ in RESOURCES}
        running = ' and '.join(unit.format(now[field])
                               for field, unit in RESOURCES)
        missed = [field for field, _ in RESOURCES
                  if requested[field] is not None and
                  now[field] != requested[field]]
        if missed:
            raise exceptions.CommandError(
                f'Adjusting server {name} did not complete: it runs with '
                f'{running}')
        self.app.stdout.write(f'Complete: server {name} runs with '
                              f'{running}\n')

    def _look(self, client, server, name, request_id, progressed,
              live_migrate=False):
        """One look at the adjust: (its action, where it stands).

        Where it stands is None once it is over.
        """
        current = client.get_server(server.id)
        if (current.vm_state or '').lower() == 'error':
            self._end_progress(progressed)
            fault = current.fault or {}
            raise exceptions.CommandError(
                f'Adjusting server {name} failed: the server is in '
                f'ERROR: {fault.get("message") or "no fault recorded"}')
        if current.task_state is not None:
            return None, current.task_state
        # between the move of a grow and the grow, the task state is clear
        # for a moment; the envelope says what still runs
        phase = live_migrate and client.show(server.id).get('phase')
        if phase:
            return None, phase
        action = client.adjust_action(server.id, request_id)
        if action is not None and action.action != 'xloud-adjust':
            # the request moved the server (its live-migration action):
            # if the move failed, that is the outcome; if not, the grow
            # that followed it is, as its own xloud-adjust action
            _raise_if_failed(name, action, doing='Moving')
            action = client.adjust_action(server.id, None)
        if action is None or all(e.result for e in action.events):
            return action, None
        return action, 'finishing'

    def _end_progress(self, progressed):
        if progressed:
            self._progress('\n')


def _raise_if_failed(name, action, doing='Adjusting'):
    failed = [e for e in (action.events if action else [])
              if (e.result or '').lower() == 'error']
    if failed:
        reason = ('; '.join(_event_reason(e) for e in failed) or
                  action.message or 'unknown reason')
        raise exceptions.CommandError(
            f'{doing} server {name} failed: {reason}')


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a whole number of seconds above 0')
    return value


def _event_reason(event):
    """The fault of a failed event.

    Its details (compute API 2.84 and later), or else the last line of its
    traceback (which administrators see).
    """
    if getattr(event, 'details', None):
        return event.details
    lines = (event.traceback or '').strip().splitlines()
    return lines[-1] if lines else ''


class ShowServerAdjust(command.ShowOne):
    """Show a server's sizing envelope.

    Per resource (vcpus, memory_mb in MiB): the flavor's minimum and
    maximum, what the server runs with now (current) and at its next boot
    (next_boot), its placement allocation, and whether it can be adjusted.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            'server',
            metavar='<server>',
            help='Server to show (name or ID)')
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.xloud
        server = client.find_server(parsed_args.server)
        envelope = client.show(server.id)
        first = ['server_id'] + [field for field, _ in RESOURCES]
        columns = ([c for c in first if c in envelope] +
                   sorted(c for c in envelope if c not in first))
        return columns, [_formatted(envelope[c]) for c in columns]


def _formatted(value):
    """A value through OSC's column formatters.

    A dict reads as key='value' pairs in a table and stays a dict in JSON
    and YAML; a list likewise.
    """
    if isinstance(value, dict):
        return format_columns.DictColumn(value)
    if isinstance(value, list):
        return format_columns.ListColumn(value)
    return value
