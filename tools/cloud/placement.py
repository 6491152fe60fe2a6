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

"""Placement, the resource provider API Nova claims in."""

from cloud import base
from cloud import keystone
from cloud import mariadb
from cloud import wsgi


class Placement(wsgi.WsgiService):

    name = 'placement'
    module = 'placement.wsgi.api:application'
    project = 'placement'
    conf_file = 'placement/placement.conf'
    conf_dir_env = 'OS_PLACEMENT_CONFIG_DIR'

    def config(self):
        self.conf.parent.mkdir(exist_ok=True)
        self.conf.write_text(base.ini({
            'DEFAULT': {'log_file': str(self.node.app_log('placement'))},
            'placement_database': {
                'connection': mariadb.connection('placement')},
            'api': {'auth_strategy': 'keystone'},
            'keystone_authtoken': keystone.authtoken('placement'),
        }))

    def sync(self):
        self.node.command([str(self.node.bin / 'placement-manage'),
                           '--config-file', str(self.conf), 'db', 'sync'])
