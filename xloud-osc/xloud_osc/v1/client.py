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

"""The os-xloud-adjust API over OSC's compute session.

Every request goes through openstacksdk's compute proxy, a keystoneauth
adapter bound to the compute endpoint of OSC's session: this module holds
no token, no endpoint and no HTTP client of its own.
"""

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from osc_lib import exceptions

PATH = '/os-xloud-adjust/%s'


class APIError(exceptions.CommandError):
    """A refusal of the compute API, said in one line."""

    def __init__(self, status, message):
        self.status = status
        super().__init__(message)

    @property
    def transient(self):
        """Whether asking again later may well succeed (a 5xx, or none)."""
        return self.status is None or self.status >= 500


def _api_error(e, doing=None):
    """The APIError of an openstacksdk or keystoneauth failure."""
    if isinstance(e, ks_exceptions.ConnectionError):
        status = None  # no answer at all
    else:
        status = getattr(e, 'status_code', None) or 400
    message = _sdk_message(e)
    return APIError(status, f'{doing}: {message}' if doing else message)


def fault_message(response):
    """The message of a Nova fault body, or of the response's status.

    Nova's faults read ``{"conflictingRequest": {"code": 409, "message":
    "..."}}``; anything else (a proxy's HTML page, an empty body) gives the
    status line.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and len(body) == 1:
        fault = next(iter(body.values()))
        if isinstance(fault, dict) and fault.get('message'):
            return str(fault['message'])
    reason = getattr(response, 'reason', '') or 'error'
    return f'{response.status_code} {reason}'.strip()


def _check(response, doing):
    if response.status_code >= 400:
        raise APIError(response.status_code,
                       f'{doing}: {fault_message(response)} '
                       f'(HTTP {response.status_code})')
    return response


class Client:
    """What the xloud commands need from the compute API."""

    def __init__(self, compute):
        #: openstacksdk's compute proxy (a keystoneauth adapter).
        self.compute = compute

    def find_server(self, name_or_id):
        """The server of that name or ID, as ``openstack server show``."""
        try:
            return self.compute.find_server(name_or_id, ignore_missing=False)
        except (sdk_exceptions.SDKException,
                ks_exceptions.ConnectionError) as e:
            # "No Server found for web1", "More than one Server exists
            # with the name 'web1'", or an HTTP refusal.
            raise _api_error(e)

    def get_server(self, server_id):
        try:
            return self.compute.get_server(server_id)
        except (sdk_exceptions.SDKException,
                ks_exceptions.ConnectionError) as e:
            raise _api_error(e)

    def adjust(self, server_id, vcpus=None, memory_mb=None, persist=True,
               live_migrate=False):
        """POST the adjust; return the request ID Nova recorded it under.

        202 means the change was accepted and runs on the compute host.
        ``live_migrate`` is sent only when asked, so a cloud older than it
        still takes every other adjust.
        """
        body = {'persist': persist}
        if live_migrate:
            body['live_migrate'] = True
        if vcpus is not None:
            body['current_vcpus'] = vcpus
        if memory_mb is not None:
            body['current_memory_mb'] = memory_mb
        response = _check(self.compute.post(PATH % server_id, json=body),
                          f'Cannot adjust server {server_id}')
        return (response.headers.get('x-openstack-request-id') or
                response.headers.get('x-compute-request-id'))

    def show(self, server_id):
        """The server's envelope: the body of GET, unwrapped."""
        doing = f'Cannot show the envelope of server {server_id}'
        try:
            response = self.compute.get(PATH % server_id)
        except ks_exceptions.ConnectionError as e:
            raise _api_error(e, doing)
        response = _check(response, doing)
        body = response.json()
        return body.get('xloud_adjust', body)

    def adjust_action(self, server_id, request_id):
        """The ``xloud-adjust`` instance action of an adjust, or None.

        By its request ID when Nova returned one, or else the newest
        ``xloud-adjust`` action of the server.
        """
        try:
            if request_id:
                return self.compute.get_server_action(
                    request_id, server_id, ignore_missing=True)
            for action in self.compute.server_actions(server_id):
                if action.action == 'xloud-adjust':
                    return self.compute.get_server_action(
                        action.request_id, server_id, ignore_missing=True)
        except (sdk_exceptions.SDKException,
                ks_exceptions.ConnectionError) as e:
            raise _api_error(e)
        return None


def _sdk_message(e):
    message = getattr(e, 'details', None) or getattr(e, 'message', None)
    return str(message or e)
