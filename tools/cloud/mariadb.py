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

"""MariaDB, from Debian's package: its own binary and data directory.

Never through the package's init script: mariadbd runs as a unit of the
cloud with a private datadir, socket and port, and holds every service's
database.
"""

from cloud import base

DATABASES = ('keystone', 'placement', 'glance', 'neutron', 'nova_api',
             'nova', 'nova_cell0')


def connection(database):
    """The SQLAlchemy URL of ``database`` for a service."""
    return (f'mysql+pymysql://aio:{base.PASSWORD}@{base.HOST}:'
            f'{base.PORTS["mariadb"]}/{database}?charset=utf8mb4')


class MariaDB(base.Unit):

    name = 'mariadb'

    @property
    def datadir(self):
        return self.node.data / 'mysql'

    @property
    def cnf(self):
        return self.node.etc / 'my.cnf'

    @property
    def socket(self):
        return self.node.run_dir / 'mariadb.sock'

    def config(self):
        self.cnf.write_text(
            '[mariadbd]\n'
            f'datadir = {self.datadir}\n'
            f'socket = {self.socket}\n'
            f'bind-address = {base.HOST}\n'
            f'port = {base.PORTS["mariadb"]}\n'
            f'pid-file = {self.node.run_dir / "mariadbd.pid"}\n'
            'user = root\n'
            'skip-name-resolve\n'
            'max_connections = 1000\n'
            'innodb_buffer_pool_size = 256M\n'
            'innodb_flush_log_at_trx_commit = 0\n'
            'character-set-server = utf8mb4\n'
            'collation-server = utf8mb4_general_ci\n')

    def ready(self):
        return self.socket.exists() and base.port_answers(
            base.PORTS['mariadb'])

    def start(self):
        """Start it, wait until it answers, create the databases."""
        if self.pid():
            return
        self.config()
        if not (self.datadir / 'mysql').exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            self.node.command([
                'mariadb-install-db', f'--defaults-file={self.cnf}',
                '--auth-root-authentication-method=socket',
                '--skip-test-db'])
        self.node.spawn(self.name, ['mariadbd',
                                    f'--defaults-file={self.cnf}'])
        self.node.wait_for('MariaDB', self.ready, name=self.name)
        grants = ''.join(
            f'CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4;'
            for db in DATABASES)
        grants += (f"CREATE USER IF NOT EXISTS 'aio'@'{base.HOST}' "
                   f"IDENTIFIED BY '{base.PASSWORD}';"
                   f"GRANT ALL ON *.* TO 'aio'@'{base.HOST}';")
        self.node.command(['mariadb', f'--socket={self.socket}', '-uroot',
                           '-e', grants])
