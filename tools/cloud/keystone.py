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

"""Keystone: identity, with Fernet tokens, bootstrapped with an admin."""

from cloud import base
from cloud import mariadb
from cloud import wsgi


def authtoken(user):
    """The keystoneauth options of service user ``user``."""
    return {
        'www_authenticate_uri': base.url('keystone'),
        'auth_url': base.url('keystone'),
        'auth_type': 'password',
        'project_domain_name': 'Default',
        'user_domain_name': 'Default',
        'project_name': 'service',
        'username': user,
        'password': base.PASSWORD,
        'region_name': base.REGION,
    }


class Keystone(wsgi.WsgiService):

    name = 'keystone'
    module = 'keystone.wsgi.api:application'
    project = 'keystone'
    health_path = '/v3'
    conf_file = 'keystone/keystone.conf'
    conf_dir_env = 'OS_KEYSTONE_CONFIG_DIR'

    def config(self):
        self.conf.parent.mkdir(exist_ok=True)
        data = self.node.data
        self.conf.write_text(base.ini({
            'DEFAULT': {'log_file': str(self.node.app_log('keystone'))},
            'database': {'connection': mariadb.connection('keystone')},
            'fernet_tokens': {'key_repository': str(
                data / 'keystone-fernet')},
            'credential': {'key_repository': str(
                data / 'keystone-credential')},
            'token': {'provider': 'fernet'},
        }))

    def sync(self):
        manage = [str(self.node.bin / 'keystone-manage'), '--config-file',
                  str(self.conf)]
        command = self.node.command
        command(manage + ['db_sync'])
        command(manage + ['fernet_setup', '--keystone-user', 'root',
                          '--keystone-group', 'root'])
        command(manage + ['credential_setup', '--keystone-user', 'root',
                          '--keystone-group', 'root'])
        v3 = self.url('/v3')
        command(manage + [
            'bootstrap', '--bootstrap-password', base.PASSWORD,
            '--bootstrap-admin-url', v3, '--bootstrap-internal-url', v3,
            '--bootstrap-public-url', v3,
            '--bootstrap-region-id', base.REGION])
