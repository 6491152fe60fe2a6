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

"""What the running cloud holds: users, catalog, images and a flavor.

An admin and a member user (their openrc files beside the node's
virtualenv), a user for each service in project "service" with the admin
and service roles, the catalog, the real-hypervisor suite's guest as
AMI-style kernel, ramdisk and disk images, and a demo flavor with
minimums. Each step finds what is there before it creates anything, so
that seeding a seeded cloud changes nothing.
"""

import os
import pathlib

from cloud import base
from cloud import rest
import realhv

#: The demo flavor: vCPUs, MiB and its minimums, as the hypervisor suite,
#: but no more vCPUs than the host has: placement's VCPU max_unit is the
#: host's CPU count, so a larger size could never be allocated.
FLAVOR = {'name': 'xloud.demo', 'vcpus': min(4, os.cpu_count() or 1),
          'ram': 1024, 'disk': 1, 'minimum_cpu': 1, 'minimum_memory': 256}
IMAGE = 'xloud-guest'
#: The catalog: (service name, type, port, path).
CATALOG = (
    ('placement', 'placement', 'placement', ''),
    ('glance', 'image', 'glance', ''),
    ('neutron', 'network', 'neutron', ''),
    ('nova', 'compute', 'nova-api', '/v2.1'),
)
#: The services' users.
SERVICE_USERS = ('nova', 'placement', 'glance', 'neutron')


def os_env(user):
    """The OS_* variables of ``user`` (admin or member)."""
    return {
        'OS_AUTH_URL': base.url('keystone', '/v3'),
        'OS_IDENTITY_API_VERSION': '3',
        'OS_USERNAME': user,
        'OS_PASSWORD': base.PASSWORD,
        'OS_PROJECT_NAME': 'admin' if user == 'admin' else 'demo',
        'OS_USER_DOMAIN_ID': 'default',
        'OS_PROJECT_DOMAIN_ID': 'default',
        'OS_REGION_NAME': base.REGION,
    }


def openrc(node, user):
    return node.work / f'{user}-openrc'


def write_openrc(node, user):
    lines = [f'export {k}={v}' for k, v in os_env(user).items()]
    lines.append(f'export PATH={node.bin}:$PATH')
    openrc(node, user).write_text('\n'.join(lines) + '\n')


class Identity:
    """Keystone's side of the seed, as the bootstrapped admin."""

    def __init__(self, token):
        self.token = token

    def call(self, method, path, body=None):
        status, out = rest.request(method, base.url('keystone', '/v3' + path),
                                   self.token, body)
        if status >= 400:
            raise base.Failed(f'keystone {method} {path}: {status} {out}')
        return out

    def find_or_create(self, kind, name, body, query=''):
        found = self.call('GET', f'/{kind}?name={name}{query}')[kind]
        if found:
            return found[0]['id']
        singular = kind[:-1]
        return self.call('POST', f'/{kind}',
                         {singular: body})[singular]['id']

    def seed(self):
        """Service users, the catalog, the member user; admin's project."""
        roles = {r['name']: r['id'] for r in
                 self.call('GET', '/roles')['roles']}
        service_project = self.find_or_create(
            'projects', 'service', {'name': 'service', 'domain_id': 'default'})
        demo_project = self.find_or_create(
            'projects', 'demo', {'name': 'demo', 'domain_id': 'default'})

        def user(name, project, *role_names):
            uid = self.find_or_create(
                'users', name,
                {'name': name, 'domain_id': 'default',
                 'password': base.PASSWORD, 'default_project_id': project})
            for role in role_names:
                self.call('PUT', f'/projects/{project}/users/{uid}/'
                          f'roles/{roles[role]}')
        for name in SERVICE_USERS:
            user(name, service_project, 'admin', 'service')
        user('member', demo_project, 'member', 'reader')
        admin_project = self.call('GET',
                                  '/projects?name=admin')['projects'][0]['id']
        admin = self.call('GET', '/users?name=admin')['users'][0]['id']
        self.call('PUT', f'/projects/{demo_project}/users/{admin}/'
                  f'roles/{roles["admin"]}')
        for name, kind, port, path in CATALOG:
            sid = self.find_or_create('services', name,
                                      {'name': name, 'type': kind})
            have = {e['interface'] for e in self.call(
                'GET', f'/endpoints?service_id={sid}')['endpoints']}
            for interface in ('public', 'internal', 'admin'):
                if interface not in have:
                    self.call('POST', '/endpoints', {'endpoint': {
                        'service_id': sid, 'interface': interface,
                        'region_id': base.REGION,
                        'url': base.url(port, path)}})
        return admin_project


def identity(node):
    """Seed Keystone and write the openrc files; admin's project id."""
    project = Identity(rest.token()).seed()
    write_openrc(node, 'admin')
    write_openrc(node, 'member')
    return project


def images(node, token):
    """The test guest as AMI-style kernel, ramdisk and disk images."""
    glance = base.url('glance', '/v2/images')
    status, out = rest.request('GET', f'{glance}?name={IMAGE}', token)
    if status == 200 and out['images'] and all(
            i['status'] == 'active' for i in out['images']):
        return out['images'][0]['id']
    guest = realhv.image(node.root / 'build' / 'guest')
    disk = node.data / 'guest-disk.raw'
    with open(disk, 'wb') as f:
        f.truncate(1024 * 1024)

    def upload(name, path, disk_format, **props):
        status, image = rest.request('POST', glance, token, dict(
            name=name, disk_format=disk_format,
            container_format=disk_format, visibility='public', **props))
        if status != 201:
            raise base.Failed(f'glance: cannot create {name}: {image}')
        status, out = rest.request(
            'PUT', f'{glance}/{image["id"]}/file', token,
            data=pathlib.Path(path).read_bytes(),
            headers={'Content-Type': 'application/octet-stream'})
        if status != 204:
            raise base.Failed(f'glance: cannot upload {name}: {out}')
        return image['id']
    kernel = upload(f'{IMAGE}-kernel', guest['kernel'], 'aki')
    ramdisk = upload(f'{IMAGE}-ramdisk', guest['initrd'], 'ari')
    return upload(IMAGE, disk, 'ami', kernel_id=kernel,
                  ramdisk_id=ramdisk, os_command_line=guest['cmdline'])


def flavor(token):
    """The demo flavor and its minimums."""
    nova = base.url('nova-api', '/v2.1')
    status, out = rest.request('GET', f'{nova}/flavors', token)
    if any(f['name'] == FLAVOR['name'] for f in out['flavors']):
        return
    status, out = rest.request('POST', f'{nova}/flavors', token, {
        'flavor': {k: FLAVOR[k] for k in ('name', 'vcpus', 'ram', 'disk')}})
    if status != 200:
        raise base.Failed(f'nova: cannot create the flavor: {out}')
    status, specs = rest.request(
        'POST', f'{nova}/flavors/{out["flavor"]["id"]}/os-extra_specs',
        token, {'extra_specs': {
            'minimum_cpu': str(FLAVOR['minimum_cpu']),
            'minimum_memory': str(FLAVOR['minimum_memory'])}})
    if status != 200:
        raise base.Failed(f'nova: cannot set the minimums: {specs}')
