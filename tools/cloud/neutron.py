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

"""The Neutron API server: ML2 with flat networks, no agents."""

from cloud import base
from cloud import keystone
from cloud import mariadb
from cloud import rabbitmq
from cloud import wsgi

#: A fresh Neutron worker fails its first GET /v2.0/ports unless every
#: SQLAlchemy mapper is configured before it serves.
HOOK = """

def post_worker_init(worker):
    import sqlalchemy.orm
    sqlalchemy.orm.configure_mappers()
"""


class Neutron(wsgi.WsgiService):

    name = 'neutron'
    module = 'neutron.wsgi.api:application'
    project = 'neutron'
    extra = HOOK
    conf_file = 'neutron/neutron.conf'
    conf_dir_env = 'OS_NEUTRON_CONFIG_DIR'

    @property
    def etc(self):
        return self.conf.parent

    def config(self):
        self.etc.mkdir(exist_ok=True)
        self.conf.write_text(base.ini({
            'DEFAULT': {
                'log_file': str(self.node.app_log('neutron')),
                'core_plugin': 'ml2',
                'service_plugins': 'router',
                'auth_strategy': 'keystone',
                'transport_url': rabbitmq.transport_url(),
                'api_paste_config': str(
                    self.node.venv / 'etc/neutron/api-paste.ini'),
                'notify_nova_on_port_status_changes': 'false',
                'notify_nova_on_port_data_changes': 'false',
                'state_path': str(self.node.data / 'neutron'),
            },
            'database': {'connection': mariadb.connection('neutron')},
            'keystone_authtoken': keystone.authtoken('neutron'),
            'nova': keystone.authtoken('nova'),
            'oslo_concurrency': {'lock_path': str(self.node.data / 'lock')},
        }))
        (self.etc / 'ml2_conf.ini').write_text(base.ini({
            'ml2': {'type_drivers': 'flat', 'tenant_network_types': '',
                    'mechanism_drivers': ''},
            'ml2_type_flat': {'flat_networks': '*'},
        }))

    def env(self):
        return dict(super().env(),
                    OS_NEUTRON_CONFIG_FILES='neutron.conf;ml2_conf.ini')

    def sync(self):
        self.node.command([str(self.node.bin / 'neutron-db-manage'),
                           '--config-file', str(self.conf),
                           '--config-file', str(self.etc / 'ml2_conf.ini'),
                           'upgrade', 'heads'])
