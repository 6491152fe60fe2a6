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

"""Glance, its images in a file store under the node's data."""

import shutil

from cloud import base
from cloud import keystone
from cloud import mariadb
from cloud import wsgi


class Glance(wsgi.WsgiService):

    name = 'glance'
    module = 'glance.wsgi.api:application'
    project = 'glance'
    conf_file = 'glance/glance-api.conf'
    conf_dir_env = 'OS_GLANCE_CONFIG_DIR'

    def config(self):
        etc = self.conf.parent
        etc.mkdir(exist_ok=True)
        shutil.copy(self.node.venv / 'etc/glance/glance-api-paste.ini', etc)
        images = self.node.data / 'glance'
        self.conf.write_text(base.ini({
            'DEFAULT': {'log_file': str(self.node.app_log('glance')),
                        'enabled_backends': 'fs:file'},
            'database': {'connection': mariadb.connection('glance')},
            'keystone_authtoken': keystone.authtoken('glance'),
            'paste_deploy': {'flavor': 'keystone'},
            'glance_store': {'default_backend': 'fs'},
            'fs': {'filesystem_store_datadir': str(images / 'images')},
            'os_glance_staging_store': {
                'filesystem_store_datadir': str(images / 'staging')},
            'os_glance_tasks_store': {
                'filesystem_store_datadir': str(images / 'tasks')},
            'oslo_concurrency': {'lock_path': str(self.node.data / 'lock')},
        }))

    def sync(self):
        self.node.command([str(self.node.bin / 'glance-manage'),
                           '--config-file', str(self.conf), 'db_sync'])
