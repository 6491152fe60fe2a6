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

"""Nova: the patched nova-api, nova-conductor, nova-scheduler, compute.

One nova.conf serves them all. nova-api runs under gunicorn; the others
run as they do in production, from their console scripts. nova-compute
uses the libvirt driver (``virt_type=qemu``) on the cloud's own libvirtd
(libvirt.py).
"""

import os
import shutil
import signal

from cloud import base
from cloud import keystone
from cloud import mariadb
from cloud import rabbitmq
from cloud import rest
from cloud import wsgi


def conf(node):
    return node.conf('nova/nova.conf')


def manage(node, *args, check=True):
    """``nova-manage <args>`` on the cloud's nova.conf."""
    return node.command([str(node.bin / 'nova-manage'), '--config-file',
                         str(conf(node)), *args], check=check)


class NovaApi(wsgi.WsgiService):
    """nova-api, and the nova.conf and databases of every Nova service."""

    name = 'nova-api'
    module = 'nova.wsgi.osapi_compute:application'
    project = 'nova'
    conf_file = 'nova/nova.conf'
    conf_dir_env = 'OS_NOVA_CONFIG_DIR'

    def __init__(self, node, libvirt_uri, name=None):
        super().__init__(node, name)
        self.libvirt_uri = libvirt_uri

    def config(self):
        node = self.node
        etc = conf(node).parent
        etc.mkdir(exist_ok=True)
        (node.data / 'nova' / 'instances').mkdir(parents=True, exist_ok=True)
        shutil.copy(node.venv / 'etc/nova/api-paste.ini', etc)
        service = keystone.authtoken('nova')
        helper = (f'{node.bin / "privsep-helper"} --config-file '
                  f'{conf(node)} --privsep_context ')
        conf(node).write_text(base.ini({
            'DEFAULT': {
                'transport_url': rabbitmq.transport_url(),
                'my_ip': base.HOST,
                'host': 'aio',
                'compute_driver': 'libvirt.LibvirtDriver',
                'state_path': str(node.data / 'nova'),
                'instances_path': str(node.data / 'nova' / 'instances'),
                'osapi_compute_workers': 1,
                'metadata_workers': 1,
                'reserved_host_memory_mb': 512,
                'use_rootwrap_daemon': 'false',
                'heal_instance_info_cache_interval': -1,
                # one node: a cold resize (make bench) stays on it
                'allow_resize_to_same_host': 'true',
                # the test guest ignores ACPI: stop and resize would wait
                # the default 60 s for a clean shutdown that never comes
                'shutdown_timeout': 5,
            },
            'api': {'auth_strategy': 'keystone'},
            'api_database': {'connection': mariadb.connection('nova_api')},
            'database': {'connection': mariadb.connection('nova')},
            'keystone_authtoken': service,
            'service_user': dict(service, send_service_user_token='true'),
            'placement': service,
            'neutron': dict(service, default_floating_pool='public'),
            'glance': {'region_name': base.REGION},
            'cinder': {'os_region_name': base.REGION},
            'libvirt': {'virt_type': 'qemu', 'cpu_mode': 'none',
                        'connection_uri': self.libvirt_uri},
            'scheduler': {'discover_hosts_in_cells_interval': -1},
            'conductor': {'workers': 1},
            'oslo_concurrency': {'lock_path': str(node.data / 'lock')},
            'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': 0},
            'vnc': {'enabled': 'false'},
            'nova_sys_admin': {'helper_command':
                               helper + 'nova.privsep.sys_admin_pctxt'},
            'os_vif_ovs': {'isolate_vif': 'false'},
        }))

    def sync(self):
        """The API database, cell0 and cell1, and cell1's database."""
        manage(self.node, 'api_db', 'sync')
        manage(self.node, 'cell_v2', 'map_cell0', '--database_connection',
               mariadb.connection('nova_cell0'))
        if 'cell1' not in manage(self.node, 'cell_v2', 'list_cells').stdout:
            manage(self.node, 'cell_v2', 'create_cell', '--name', 'cell1')
        manage(self.node, 'db', 'sync')


class NovaService(base.Unit):
    """A Nova service run from its console script (``name``)."""

    def __init__(self, node, name, config_files=None):
        super().__init__(node, name)
        #: Its configuration: the cloud's nova.conf unless told.
        self.config_files = config_files or [conf(node)]
        #: Its console script: by default its name.
        self.binary = name

    def prefix(self):
        """What its command line starts with before the script."""
        return []

    def start(self):
        if self.pid():
            return
        self.node.mark_log(self.name)
        argv = self.prefix() + [str(self.node.bin / self.binary)]
        for path in self.config_files:
            argv += ['--config-file', str(path)]
        self.node.spawn(self.name, argv + [
            '--log-file', str(self.node.app_log(self.name))])


class NovaCompute(NovaService):
    """nova-compute, on a libvirtd unit of the cloud.

    ``name`` names its pid file and logs. A second compute on the same
    node takes another name, its own libvirtd and a config file setting
    another [DEFAULT]host (node_config). On a libvirtd of its own
    namespaces (libvirt.NodeLibvirt) it runs in them.
    """

    def __init__(self, node, libvirt, name='nova-compute',
                 config_files=None, host='aio'):
        super().__init__(node, name, config_files)
        self.binary = 'nova-compute'
        self.libvirt = libvirt
        self.host = host

    def prefix(self):
        nsenter = getattr(self.libvirt, 'nsenter', None)
        return nsenter() if nsenter else []

    def node_config(self):
        """The config file of a compute on a NodeLibvirt; its path.

        Its own host, state and lock directories, and live migration to
        it on its libvirtd's address (plain TCP, not tunnelled, so Nova
        can block-migrate). Each "host" offers its real cores without
        overcommit (cpu_allocation_ratio 1.0): two computes on one
        machine already count its cores twice.
        """
        own = self.node.data / 'nodes' / self.host
        for sub in ('state', 'lock'):
            (own / sub).mkdir(parents=True, exist_ok=True)
        path = self.node.conf(f'nova/{self.name}.conf')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base.ini({
            'DEFAULT': {'host': self.host, 'state_path': str(own / 'state'),
                        'cpu_allocation_ratio': '1.0'},
            'libvirt': {
                'connection_uri': 'qemu:///system',
                'live_migration_scheme': 'tcp',
                'live_migration_inbound_addr':
                    self.libvirt.settings['ip'],
                'live_migration_tunnelled': 'false'},
            'oslo_concurrency': {'lock_path': str(own / 'lock')},
        }))
        return path

    def start(self):
        """nova-compute, on its libvirtd (started first if need be)."""
        self.libvirt.start()
        super().start()

    def kill(self):
        """kill -9 nova-compute (the end-to-end tests' fault)."""
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            self.node.wait_for(f'{self.name} to die',
                               lambda: not self.pid(), 30)
        self.node.pidfile(self.name).unlink(missing_ok=True)

    def discover(self, token, hosts=None):
        """Wait for the service to report and map its host to cell1.

        ``hosts``: wait for the services of these hosts, and as many
        hypervisors (by default any one).
        """
        nova = base.url('nova-api', '/v2.1')

        def registered():
            status, out = rest.request(
                'GET', f'{nova}/os-services?binary=nova-compute', token)
            up = {s['host'] for s in out['services']
                  if s['state'] == 'up'} if status == 200 else set()
            return set(hosts) <= up if hosts else bool(up)
        self.node.wait_for('nova-compute to report', registered, 240,
                           name=self.name)
        manage(self.node, 'cell_v2', 'discover_hosts')

        def hypervisor():
            status, out = rest.request('GET', f'{nova}/os-hypervisors',
                                       token)
            return status == 200 and len(out['hypervisors']) >= len(
                hosts or [None])
        self.node.wait_for('the hypervisor', hypervisor, 120,
                           name=self.name)
