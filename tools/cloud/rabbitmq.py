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

"""RabbitMQ, from Debian's package, as a unit of the cloud.

The Debian wrapper (/usr/sbin) would switch to the rabbitmq user; the
server's own script runs as root with the cloud's private paths, node
name, ports and an epmd of its own on 127.0.0.1.
"""

import pathlib
import time

from cloud import base


def transport_url():
    return f'rabbit://guest:guest@{base.HOST}:{base.PORTS["rabbitmq"]}/'


def installed():
    """The rabbitmq-server scripts of the installed releases, oldest first."""
    return sorted(pathlib.Path('/usr/lib/rabbitmq/lib').glob(
        'rabbitmq_server-*/sbin/rabbitmq-server'))


class RabbitMQ(base.Unit):

    name = 'rabbitmq'

    @property
    def home(self):
        """Its HOME and configuration: the node's data/rabbitmq."""
        return self.node.data / 'rabbitmq'

    def env(self):
        base_dir = self.home
        return {
            'HOME': str(base_dir),
            'RABBITMQ_MNESIA_BASE': str(base_dir / 'mnesia'),
            'RABBITMQ_LOG_BASE': str(self.node.logs / 'rabbitmq'),
            'RABBITMQ_NODENAME': 'xloud-aio@localhost',
            'RABBITMQ_NODE_IP_ADDRESS': base.HOST,
            'RABBITMQ_NODE_PORT': str(base.PORTS['rabbitmq']),
            'RABBITMQ_DIST_PORT': str(base.PORTS['rabbitmq'] + 20000),
            'RABBITMQ_PID_FILE': str(self.node.run_dir /
                                     'rabbitmq-beam.pid'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': str(base_dir /
                                                 'enabled_plugins'),
            'RABBITMQ_CONFIG_FILE': str(base_dir / 'rabbitmq'),
            'ERL_EPMD_ADDRESS': base.HOST,
            'ERL_EPMD_PORT': str(base.PORTS['epmd']),
            # else Erlang's distribution port binds 0.0.0.0
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
                '-kernel inet_dist_use_interface {127,0,0,1}',
        }

    def tool(self, name):
        found = [p.parent / name for p in installed()]
        if not found:
            raise base.Failed(f'{name} is missing: install bindep.txt\'s '
                              f'"aio" profile (tools/install-packages.sh '
                              f'aio)')
        return str(found[-1])

    def ctl(self, *args, check=True):
        return self.node.command([self.tool('rabbitmqctl'), *args],
                                 env=self.env(), check=check)

    def config(self):
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / 'enabled_plugins').write_text('[].\n')
        (self.home / 'rabbitmq.conf').write_text(
            'loopback_users.guest = true\n'
            'disk_free_limit.absolute = 50MB\n')
        (self.node.logs / 'rabbitmq').mkdir(parents=True, exist_ok=True)

    def ready(self):
        return not self.ctl('await_startup', '--timeout', '5',
                            check=False).returncode

    def start(self):
        """Start it and wait until it has started."""
        if self.pid():
            return
        self.config()
        self.node.spawn(self.name, [self.tool('rabbitmq-server')],
                        env=self.env())
        start = time.monotonic()
        while not self.ready():
            if not self.pid():
                raise base.Failed(f'RabbitMQ died while starting; see '
                                  f'{self.node.logs / "rabbitmq.log"}')
            if time.monotonic() - start > 120:
                raise base.Failed('RabbitMQ is not ready after 120 s')
            time.sleep(1)

    def restart(self):
        self.stop()
        self.start()
