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

"""JSON over HTTP to the cloud's APIs, and Keystone's tokens."""

import json
import urllib.error
import urllib.request

from cloud import base


def token(user='admin', project='admin'):
    """A token of ``user`` scoped to ``project``."""
    body = {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': user, 'domain': {'id': 'default'},
            'password': base.PASSWORD}}},
        'scope': {'project': {'name': project,
                              'domain': {'id': 'default'}}}}}
    req = urllib.request.Request(
        base.url('keystone', '/v3/auth/tokens'),
        data=json.dumps(body).encode(),
        headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.headers['X-Subject-Token']


def request(method, url, token, body=None, headers=None, data=None):
    """JSON over HTTP; (status, decoded body or None)."""
    hdrs = {'X-Auth-Token': token, 'Accept': 'application/json'}
    if body is not None:
        data = json.dumps(body).encode()
        hdrs['Content-Type'] = 'application/json'
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=hdrs,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors='replace')
