#!/usr/bin/env python3
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

"""A one-node cloud of real services running the patched Nova ("make aio").

Standard library only. The commands:

  aio.py up        bring the cloud up (or finish bringing it up); print
                   what to run
  aio.py down      stop exactly what "up" started and forget the cloud
  aio.py status    say which services run

MariaDB and RabbitMQ run from Debian's packages (bindep.txt, profile
"aio"), each from its binary with a private data directory, never through
the packages' init scripts. Keystone, Placement, Glance, the Neutron API
and nova-api run their WSGI modules under gunicorn; nova-conductor,
nova-scheduler and nova-compute run as they do in production. nova-compute
uses the libvirt driver (``virt_type=qemu``) on the libvirtd of the
real-hypervisor suite (tools/realhv.py). The Python packages live in their
own virtualenv, build/aio/venv, installed from dist/ under the default
release's constraints (constraints/<release>.txt).
Every service listens on 127.0.0.1 only; its configuration, data, logs and
pid file are under build/aio/.

The cloud holds an admin and a member user (build/aio/admin-openrc,
build/aio/member-openrc), the real-hypervisor suite's guest uploaded to
Glance as AMI-style kernel, ramdisk and disk images, and a demo flavor
with minimums. It is for trying the product and for the end-to-end tests,
not a way to deploy one (doc/source/admin/xloud-deployment.rst is).
"""

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import patchq  # noqa: E402
import realhv  # noqa: E402

HOST = '127.0.0.1'
#: Private ports, so that the cloud meets nothing else on this machine.
PORTS = {
    'mariadb': 13306,
    'rabbitmq': 15673,
    'epmd': 14369,
    'keystone': 15000,
    'placement': 18778,
    'glance': 19292,
    'neutron': 19696,
    'nova-api': 18774,
}
#: Local, throw-away secrets of a cloud that listens on loopback only.
PASSWORD = 'xloud-aio'
REGION = 'RegionOne'
#: The demo flavor: vCPUs, MiB and its minimums, as the hypervisor suite,
#: but no more vCPUs than the host has: placement's VCPU max_unit is the
#: host's CPU count, so a larger size could never be allocated.
FLAVOR = {'name': 'xloud.demo', 'vcpus': min(4, os.cpu_count() or 1),
          'ram': 1024, 'disk': 1, 'minimum_cpu': 1, 'minimum_memory': 256}
IMAGE = 'xloud-guest'
#: The Python packages beside our nova (the versions the issue measured).
SERVICES_PIP = ('keystone==30.0.0', 'glance==33.0.0', 'neutron==29.0.0',
                'openstack-placement==16.0.0', 'python-openstackclient',
                'gunicorn==27.0.1', 'PyMySQL', 'libvirt-python')
#: The WSGI services: (name, module, project for its config env).
WSGI = (
    ('keystone', 'keystone.wsgi.api:application'),
    ('placement', 'placement.wsgi.api:application'),
    ('glance', 'glance.wsgi.api:application'),
    ('neutron', 'neutron.wsgi.api:application'),
    ('nova-api', 'nova.wsgi.osapi_compute:application'),
)
NOVA_SERVICES = ('nova-conductor', 'nova-scheduler', 'nova-compute')
#: Stopped in this order by "down" (the reverse of starting).
ALL = (NOVA_SERVICES[::-1] + tuple(name for name, _ in WSGI[::-1]) +
       ('rabbitmq', 'mariadb'))
DATABASES = ('keystone', 'placement', 'glance', 'neutron', 'nova_api',
             'nova', 'nova_cell0')
#: Service users, all in project "service" with the admin and service
#: roles, and the catalog: (service name, type, port, path).
CATALOG = (
    ('placement', 'placement', 'placement', ''),
    ('glance', 'image', 'glance', ''),
    ('neutron', 'network', 'neutron', ''),
    ('nova', 'compute', 'nova-api', '/v2.1'),
)

GUNICORN = """\
# written by tools/aio.py: gunicorn takes its settings from here, never
# from its command line, which oslo.config would parse as its own.
import os

bind = '{host}:{port}'
wsgi_app = '{module}'
workers = 1
worker_class = 'gthread'
threads = 8
timeout = 600
graceful_timeout = 5
# longer than any client's pause between two requests: with gunicorn's
# 2 s, a client polling every 2 s (openstack ... --wait) meets a
# keep-alive connection closed under it
keepalive = 75
pidfile = '{pidfile}'
errorlog = '{log}'
accesslog = '{log}'
capture_output = True
control_socket_disable = True
os.environ.update({env!r})
{extra}
"""

#: A fresh Neutron worker fails its first GET /v2.0/ports unless every
#: SQLAlchemy mapper is configured before it serves.
NEUTRON_HOOK = """

def post_worker_init(worker):
    import sqlalchemy.orm
    sqlalchemy.orm.configure_mappers()
"""


class Failed(Exception):
    """The cloud could not be brought up; the message says why."""


def log(message):
    print(f'aio: {message}', flush=True)


def ini(sections):
    """An oslo.config file from {section: {option: value}}."""
    out = []
    for section, options in sections.items():
        out.append(f'[{section}]')
        out += [f'{k} = {v}' for k, v in options.items()]
        out.append('')
    return '\n'.join(out)


def port_answers(port, host=HOST):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


class Cloud:

    def __init__(self, root=None, work=None, dist=None):
        self.root = pathlib.Path(root or patchq.ROOT)
        #: Where the packages to install are: dist/ ("make dist").
        self.dist = pathlib.Path(dist or self.root / 'dist')
        self.work = pathlib.Path(work or self.root / 'build' / 'aio').resolve()
        self.venv = self.work / 'venv'
        self.bin = self.venv / 'bin'
        self.run_dir = self.work / 'run'
        self.logs = self.work / 'log'
        self.etc = self.work / 'etc'
        self.data = self.work / 'data'
        self.timings = []
        #: Where each Nova service's log stood when it was started.
        self.offsets = {}

    # -- processes ---------------------------------------------------

    def pidfile(self, name):
        return self.run_dir / f'{name}.pid'

    def pid(self, name):
        """The pid of service ``name`` if it runs, else None."""
        try:
            pid = int(self.pidfile(name).read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        try:
            state = pathlib.Path(f'/proc/{pid}/stat').read_text().split()[2]
        except OSError:
            return None
        return None if state == 'Z' else pid

    def spawn(self, name, argv, env=None, pidfile=True, cwd=None):
        """Start ``argv`` in its own session, its output in its log.

        The service outlives this process and is never waited for here,
        so it is spawned bare (no Popen to warn about it); ``env -C``
        sets its working directory without another process in between.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        out = os.open(self.logs / f'{name}.log',
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            pid = os.posix_spawn(
                '/usr/bin/env',
                ['env', '-C', str(cwd or self.work)] + [str(a) for a in argv],
                dict(os.environ, **(env or {})),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, out, 2)],
                setsid=True)
        finally:
            os.close(out)
        if pidfile:
            self.pidfile(name).write_text(f'{pid}\n')
        return pid

    def stop(self, name, sig=signal.SIGTERM, wait=10):
        """Stop service ``name`` and its process group."""
        pid = self.pid(name)
        if pid:
            for target in (lambda: os.killpg(pid, sig),
                           lambda: os.kill(pid, sig)):
                try:
                    target()
                    break
                except OSError:
                    continue
            deadline = time.monotonic() + wait
            while self.pid(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.pid(name):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.pidfile(name).unlink(missing_ok=True)
        return bool(pid)

    def command(self, argv, env=None, check=True, quiet=False):
        """Run a set-up command; its output goes to log/setup.log."""
        self.logs.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(argv, env=dict(os.environ, **(env or {})),
                              capture_output=True, text=True, cwd=self.work)
        with open(self.logs / 'setup.log', 'a') as f:
            f.write(f'$ {" ".join(map(str, argv))}\n{proc.stdout}'
                    f'{proc.stderr}rc={proc.returncode}\n')
        if check and proc.returncode:
            raise Failed(f'{" ".join(map(str, argv))} failed '
                         f'(rc {proc.returncode}):\n'
                         f'{(proc.stdout + proc.stderr)[-2000:]}')
        return proc

    def timed(self, label, fn, *args):
        start = time.monotonic()
        result = fn(*args)
        seconds = time.monotonic() - start
        self.timings.append((label, seconds))
        log(f'{label}: {seconds:.1f} s')
        return result

    def fatal(self, name):
        """The fatal error a Nova service logged since it started.

        A Nova service whose start fails logs the traceback and may go on
        running (its other threads do), so its pid alone says little.
        """
        path = self.logs / f'{name}-app.log'
        try:
            with open(path, errors='replace') as f:
                f.seek(self.offsets.get(name, 0))
                text = f.read()
        except OSError:
            return None
        m = re.search(r'^.* ERROR nova \S*(\w+Error|Exception|'
                      r'Invalid\w+): .*$', text, re.M)
        return m and m.group(0)

    def wait_for(self, what, ready, timeout=180, name=None):
        deadline = time.monotonic() + timeout
        while not ready():
            if name and not self.pid(name):
                raise Failed(f'{name} died while starting; see '
                             f'{self.logs / (name + ".log")}')
            if name and self.fatal(name):
                raise Failed(f'{name} failed to start: '
                             f'{self.fatal(name)}')
            if time.monotonic() > deadline:
                raise Failed(f'{what} is not ready after {timeout} s')
            time.sleep(0.25)

    # -- the virtualenv ----------------------------------------------

    def wheels(self):
        # the cloud runs the default release (the newest), as does the
        # end-to-end stage
        version = patchq.load_pins(self.root)[0].local_version
        found = [self.dist / f'nova-{version}-py3-none-any.whl']
        found += [self.dist /
                  f'{module}-{version}-py3-none-any.whl'
                  for module in patchq.PLUGINS.values()]
        missing = [str(w) for w in found if not w.exists()]
        if missing:
            raise Failed(f'build the packages first ("make dist"): '
                         f'missing {", ".join(missing)}')
        return found

    def ensure_venv(self):
        """The services' virtualenv, with our wheels in it."""
        wheels = self.wheels()
        constraints = self.root / patchq.load_pins(self.root)[0].constraints
        digest = hashlib.sha256()
        for path in wheels + [constraints]:
            digest.update(path.read_bytes())
        digest.update(' '.join(SERVICES_PIP).encode())
        stamp = self.venv / '.xloud-aio'
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return
        if not (self.bin / 'python').exists():
            self.command([sys.executable, '-m', 'venv', str(self.venv)])
        pip = [str(self.bin / 'python'), '-m', 'pip', 'install', '-q',
               '--disable-pip-version-check', '-c', str(constraints)]
        # a rebuilt wheel keeps its version: install it again regardless
        self.command(pip + ['--force-reinstall', '--no-deps'] +
                     [str(w) for w in wheels])
        self.command(pip + [str(w) for w in wheels] + list(SERVICES_PIP))
        self.command([str(self.bin / 'python'), '-m', 'pip', 'check'])
        stamp.write_text(digest.hexdigest())

    # -- MariaDB and RabbitMQ ----------------------------------------

    def mariadb_socket(self):
        return self.run_dir / 'mariadb.sock'

    def start_mariadb(self):
        if self.pid('mariadb'):
            return
        datadir = self.data / 'mysql'
        cnf = self.etc / 'my.cnf'
        cnf.write_text(
            '[mariadbd]\n'
            f'datadir = {datadir}\n'
            f'socket = {self.mariadb_socket()}\n'
            f'bind-address = {HOST}\n'
            f'port = {PORTS["mariadb"]}\n'
            f'pid-file = {self.run_dir / "mariadbd.pid"}\n'
            'user = root\n'
            'skip-name-resolve\n'
            'max_connections = 1000\n'
            'innodb_buffer_pool_size = 256M\n'
            'innodb_flush_log_at_trx_commit = 0\n'
            'character-set-server = utf8mb4\n'
            'collation-server = utf8mb4_general_ci\n')
        if not (datadir / 'mysql').exists():
            datadir.mkdir(parents=True, exist_ok=True)
            self.command(['mariadb-install-db', f'--defaults-file={cnf}',
                          '--auth-root-authentication-method=socket',
                          '--skip-test-db'])
        self.spawn('mariadb', ['mariadbd', f'--defaults-file={cnf}'])
        self.wait_for('MariaDB', lambda: self.mariadb_socket().exists() and
                      port_answers(PORTS['mariadb']), name='mariadb')
        grants = ''.join(
            f'CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4;'
            for db in DATABASES)
        grants += (f"CREATE USER IF NOT EXISTS 'aio'@'{HOST}' "
                   f"IDENTIFIED BY '{PASSWORD}';"
                   f"GRANT ALL ON *.* TO 'aio'@'{HOST}';")
        self.command(['mariadb', f'--socket={self.mariadb_socket()}',
                      '-uroot', '-e', grants])

    def db(self, name):
        return (f'mysql+pymysql://aio:{PASSWORD}@{HOST}:'
                f'{PORTS["mariadb"]}/{name}?charset=utf8mb4')

    def rabbitmq_env(self):
        base = self.data / 'rabbitmq'
        return {
            'HOME': str(base),
            'RABBITMQ_MNESIA_BASE': str(base / 'mnesia'),
            'RABBITMQ_LOG_BASE': str(self.logs / 'rabbitmq'),
            'RABBITMQ_NODENAME': 'xloud-aio@localhost',
            'RABBITMQ_NODE_IP_ADDRESS': HOST,
            'RABBITMQ_NODE_PORT': str(PORTS['rabbitmq']),
            'RABBITMQ_DIST_PORT': str(PORTS['rabbitmq'] + 20000),
            'RABBITMQ_PID_FILE': str(self.run_dir / 'rabbitmq-beam.pid'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': str(base / 'enabled_plugins'),
            'RABBITMQ_CONFIG_FILE': str(base / 'rabbitmq'),
            'ERL_EPMD_ADDRESS': HOST,
            'ERL_EPMD_PORT': str(PORTS['epmd']),
            # else Erlang's distribution port binds 0.0.0.0
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
                '-kernel inet_dist_use_interface {127,0,0,1}',
        }

    def rabbitmq_bin(self, tool):
        found = [p.parent / tool for p in glob_rabbitmq()]
        if not found:
            raise Failed(f'{tool} is missing: install bindep.txt\'s "aio" '
                         f'profile (tools/install-packages.sh aio)')
        return str(found[-1])

    def rabbitmqctl(self, *args, check=True):
        return self.command([self.rabbitmq_bin('rabbitmqctl'), *args],
                            env=self.rabbitmq_env(), check=check)

    def start_rabbitmq(self):
        if self.pid('rabbitmq'):
            return
        env = self.rabbitmq_env()
        base = pathlib.Path(env['HOME'])
        base.mkdir(parents=True, exist_ok=True)
        (base / 'enabled_plugins').write_text('[].\n')
        (base / 'rabbitmq.conf').write_text(
            'loopback_users.guest = true\n'
            'disk_free_limit.absolute = 50MB\n')
        (self.logs / 'rabbitmq').mkdir(parents=True, exist_ok=True)
        # the Debian wrapper (/usr/sbin) would switch to the rabbitmq user;
        # the server's own script runs as root with our private paths
        self.spawn('rabbitmq', [self.rabbitmq_bin('rabbitmq-server')],
                   env=env)
        start = time.monotonic()
        while self.rabbitmqctl('await_startup', '--timeout', '5',
                               check=False).returncode:
            if not self.pid('rabbitmq'):
                raise Failed(f'RabbitMQ died while starting; see '
                             f'{self.logs / "rabbitmq.log"}')
            if time.monotonic() - start > 120:
                raise Failed('RabbitMQ is not ready after 120 s')
            time.sleep(1)

    def restart_rabbitmq(self):
        """Stop and start RabbitMQ (the end-to-end tests' fault)."""
        self.stop('rabbitmq')
        self.start_rabbitmq()

    def transport_url(self):
        return f'rabbit://guest:guest@{HOST}:{PORTS["rabbitmq"]}/'

    # -- configuration -----------------------------------------------

    def url(self, service, path=''):
        return f'http://{HOST}:{PORTS[service]}{path}'

    def authtoken(self, user):
        return {
            'www_authenticate_uri': self.url('keystone'),
            'auth_url': self.url('keystone'),
            'auth_type': 'password',
            'project_domain_name': 'Default',
            'user_domain_name': 'Default',
            'project_name': 'service',
            'username': user,
            'password': PASSWORD,
            'region_name': REGION,
        }

    def conf(self, name):
        return self.etc / name

    def write_configs(self):
        for d in (self.etc, self.data, self.logs, self.run_dir,
                  self.data / 'nova' / 'instances'):
            d.mkdir(parents=True, exist_ok=True)
        lock = {'lock_path': str(self.data / 'lock')}
        keystone = self.etc / 'keystone'
        keystone.mkdir(exist_ok=True)
        (keystone / 'keystone.conf').write_text(ini({
            'DEFAULT': {'log_file': str(self.logs / 'keystone-app.log')},
            'database': {'connection': self.db('keystone')},
            'fernet_tokens': {'key_repository': str(
                self.data / 'keystone-fernet')},
            'credential': {'key_repository': str(
                self.data / 'keystone-credential')},
            'token': {'provider': 'fernet'},
        }))
        placement = self.etc / 'placement'
        placement.mkdir(exist_ok=True)
        (placement / 'placement.conf').write_text(ini({
            'DEFAULT': {'log_file': str(self.logs / 'placement-app.log')},
            'placement_database': {'connection': self.db('placement')},
            'api': {'auth_strategy': 'keystone'},
            'keystone_authtoken': self.authtoken('placement'),
        }))
        glance = self.etc / 'glance'
        glance.mkdir(exist_ok=True)
        shutil.copy(self.venv / 'etc/glance/glance-api-paste.ini', glance)
        (glance / 'glance-api.conf').write_text(ini({
            'DEFAULT': {'log_file': str(self.logs / 'glance-app.log'),
                        'enabled_backends': 'fs:file'},
            'database': {'connection': self.db('glance')},
            'keystone_authtoken': self.authtoken('glance'),
            'paste_deploy': {'flavor': 'keystone'},
            'glance_store': {'default_backend': 'fs'},
            'fs': {'filesystem_store_datadir': str(
                self.data / 'glance' / 'images')},
            'os_glance_staging_store': {'filesystem_store_datadir': str(
                self.data / 'glance' / 'staging')},
            'os_glance_tasks_store': {'filesystem_store_datadir': str(
                self.data / 'glance' / 'tasks')},
            'oslo_concurrency': lock,
        }))
        neutron = self.etc / 'neutron'
        neutron.mkdir(exist_ok=True)
        (neutron / 'neutron.conf').write_text(ini({
            'DEFAULT': {
                'log_file': str(self.logs / 'neutron-app.log'),
                'core_plugin': 'ml2',
                'service_plugins': 'router',
                'auth_strategy': 'keystone',
                'transport_url': self.transport_url(),
                'api_paste_config': str(
                    self.venv / 'etc/neutron/api-paste.ini'),
                'notify_nova_on_port_status_changes': 'false',
                'notify_nova_on_port_data_changes': 'false',
                'state_path': str(self.data / 'neutron'),
            },
            'database': {'connection': self.db('neutron')},
            'keystone_authtoken': self.authtoken('neutron'),
            'nova': self.authtoken('nova'),
            'oslo_concurrency': lock,
        }))
        (neutron / 'ml2_conf.ini').write_text(ini({
            'ml2': {'type_drivers': 'flat', 'tenant_network_types': '',
                    'mechanism_drivers': ''},
            'ml2_type_flat': {'flat_networks': '*'},
        }))
        nova = self.etc / 'nova'
        nova.mkdir(exist_ok=True)
        shutil.copy(self.venv / 'etc/nova/api-paste.ini', nova)
        service = self.authtoken('nova')
        helper = (f'{self.bin / "privsep-helper"} --config-file '
                  f'{nova / "nova.conf"} --privsep_context ')
        (nova / 'nova.conf').write_text(ini({
            'DEFAULT': {
                'transport_url': self.transport_url(),
                'my_ip': HOST,
                'host': 'aio',
                'compute_driver': 'libvirt.LibvirtDriver',
                'state_path': str(self.data / 'nova'),
                'instances_path': str(self.data / 'nova' / 'instances'),
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
            'api_database': {'connection': self.db('nova_api')},
            'database': {'connection': self.db('nova')},
            'keystone_authtoken': service,
            'service_user': dict(service, send_service_user_token='true'),
            'placement': service,
            'neutron': dict(service, default_floating_pool='public'),
            'glance': {'region_name': REGION},
            'cinder': {'os_region_name': REGION},
            'libvirt': {'virt_type': 'qemu', 'cpu_mode': 'none',
                        'connection_uri': 'qemu:///system?socket=' +
                        str(self.libvirt_socket())},
            'scheduler': {'discover_hosts_in_cells_interval': -1},
            'conductor': {'workers': 1},
            'oslo_concurrency': lock,
            'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': 0},
            'vnc': {'enabled': 'false'},
            'nova_sys_admin': {'helper_command':
                               helper + 'nova.privsep.sys_admin_pctxt'},
            'os_vif_ovs': {'isolate_vif': 'false'},
        }))

    def service_env(self, name):
        """What a WSGI service reads its configuration from."""
        return {
            'keystone': {'OS_KEYSTONE_CONFIG_DIR': str(self.etc / 'keystone')},
            'placement': {'OS_PLACEMENT_CONFIG_DIR':
                          str(self.etc / 'placement')},
            'glance': {'OS_GLANCE_CONFIG_DIR': str(self.etc / 'glance')},
            'neutron': {'OS_NEUTRON_CONFIG_DIR': str(self.etc / 'neutron'),
                        'OS_NEUTRON_CONFIG_FILES':
                        'neutron.conf;ml2_conf.ini'},
            'nova-api': {'OS_NOVA_CONFIG_DIR': str(self.etc / 'nova')},
        }[name]

    # -- databases ---------------------------------------------------

    def sync_keystone(self):
        kconf = ['--config-file', str(self.conf('keystone/keystone.conf'))]
        manage = [str(self.bin / 'keystone-manage')] + kconf
        self.command(manage + ['db_sync'])
        self.command(manage + ['fernet_setup', '--keystone-user', 'root',
                               '--keystone-group', 'root'])
        self.command(manage + ['credential_setup', '--keystone-user',
                               'root', '--keystone-group', 'root'])
        self.command(manage + [
            'bootstrap', '--bootstrap-password', PASSWORD,
            '--bootstrap-admin-url', self.url('keystone', '/v3'),
            '--bootstrap-internal-url', self.url('keystone', '/v3'),
            '--bootstrap-public-url', self.url('keystone', '/v3'),
            '--bootstrap-region-id', REGION])

    def sync_placement(self):
        self.command([str(self.bin / 'placement-manage'), '--config-file',
                      str(self.conf('placement/placement.conf')), 'db',
                      'sync'])

    def sync_glance(self):
        self.command([str(self.bin / 'glance-manage'), '--config-file',
                      str(self.conf('glance/glance-api.conf')), 'db_sync'])

    def sync_neutron(self):
        self.command([str(self.bin / 'neutron-db-manage'), '--config-file',
                      str(self.conf('neutron/neutron.conf')),
                      '--config-file', str(self.conf('neutron/ml2_conf.ini')),
                      'upgrade', 'heads'])

    def nova_manage(self, *args, check=True):
        return self.command([str(self.bin / 'nova-manage'), '--config-file',
                             str(self.conf('nova/nova.conf')), *args],
                            check=check)

    def sync_nova(self):
        self.nova_manage('api_db', 'sync')
        self.nova_manage('cell_v2', 'map_cell0', '--database_connection',
                         self.db('nova_cell0'))
        if 'cell1' not in self.nova_manage('cell_v2', 'list_cells').stdout:
            self.nova_manage('cell_v2', 'create_cell', '--name', 'cell1')
        self.nova_manage('db', 'sync')

    # -- services ----------------------------------------------------

    def start_wsgi(self, name, module):
        if self.pid(name):
            return
        # gunicorn reads ./gunicorn.conf.py: no argument to hand oslo.config
        home = self.run_dir / name
        home.mkdir(parents=True, exist_ok=True)
        (home / 'gunicorn.conf.py').write_text(GUNICORN.format(
            host=HOST, port=PORTS[name], module=module,
            pidfile=self.pidfile(name), log=self.logs / f'{name}.log',
            env=self.service_env(name),
            extra=NEUTRON_HOOK if name == 'neutron' else ''))
        self.pidfile(name).unlink(missing_ok=True)
        self.spawn(name, [str(self.bin / 'gunicorn')], pidfile=False,
                   cwd=home)
        # gunicorn writes the pid file itself: wait for it, then the port
        self.wait_for(f'{name} pid file', self.pidfile(name).exists, 30)

    def wait_http(self, name, path='/', timeout=180):
        def answers():
            try:
                urllib.request.urlopen(self.url(name, path), timeout=10)
                return True
            except urllib.error.HTTPError:
                return True  # it answered
            except OSError:
                return False
        self.wait_for(f'{name} on port {PORTS[name]}', answers, timeout,
                      name=name)

    def start_nova(self, name):
        if self.pid(name):
            return
        log_file = self.logs / f'{name}-app.log'
        self.offsets[name] = log_file.stat().st_size if log_file.exists(
        ) else 0
        self.spawn(name, [str(self.bin / name), '--config-file',
                          str(self.conf('nova/nova.conf')), '--log-file',
                          str(self.logs / f'{name}-app.log')])

    def libvirt_socket(self):
        return self.data / 'libvirt' / 'run' / 'libvirt-sock'

    def start_libvirt(self):
        """A libvirtd of the cloud's own, with private state.

        The real-hypervisor suite's libvirtd is the machine's: anything
        else on this machine may define domains on it, and a new
        nova-compute refuses to start on a hypervisor with domains it does
        not know. So this libvirtd, with its virtlogd and virtlockd, runs
        in a mount namespace where /run/libvirt, /var/lib/libvirt,
        /var/cache/libvirt and /etc/libvirt are directories under
        build/aio/data/libvirt; its socket is reachable from outside
        there. As in tools/realhv.py, /dev/kvm is masked (TCG only) and
        QEMU gets no private /dev.
        """
        if self.pid('libvirtd'):
            return
        base = self.data / 'libvirt'
        mounts = {'run': '/run/libvirt', 'lib': '/var/lib/libvirt',
                  'cache': '/var/cache/libvirt', 'etc': '/etc/libvirt'}
        for sub in mounts:
            (base / sub).mkdir(parents=True, exist_ok=True)
        etc = base / 'etc'
        if not (etc / 'qemu.conf').exists():
            shutil.copytree('/etc/libvirt', etc, dirs_exist_ok=True,
                            ignore=lambda d, names: [
                                n for n in names if n.endswith('.xml')])
            with open(etc / 'qemu.conf', 'a') as f:
                f.write('\n# tools/aio.py\nnamespaces = []\n')
        mask = base / 'no-kvm'
        mask.touch()
        mask.chmod(0)
        # A mount point must exist: on a host where no libvirtd ran since
        # boot, /run/libvirt does not.
        binds = [f'mkdir -p {target} && mount --bind {base / sub} {target}'
                 for sub, target in mounts.items()]
        if os.path.exists(realhv.KVM):
            binds.append(f'mount --bind {mask} {realhv.KVM}')
        script = ' && '.join(binds + [
            f'/usr/sbin/virtlogd -d -p {self.run_dir / "virtlogd.pid"}',
            f'/usr/sbin/virtlockd -d -p {self.run_dir / "virtlockd.pid"}',
            f'exec /usr/sbin/libvirtd -p {self.run_dir / "libvirtd-d.pid"}'])
        realhv.MASK.parent.mkdir(parents=True, exist_ok=True)
        self.spawn('libvirtd', ['unshare', '--mount', '--propagation',
                                'private', 'sh', '-c', script],
                   env=realhv.memlock_shim())
        self.wait_for('libvirtd', lambda: realhv.socket_answers(
            str(self.libvirt_socket())), 60, name='libvirtd')

    def stop_libvirt(self):
        for name in ('virtlogd', 'virtlockd'):
            try:
                pid = int((self.run_dir / f'{name}.pid').read_text())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                pass
        return self.stop('libvirtd')

    def start_compute(self):
        """nova-compute, on the cloud's own libvirtd."""
        self.start_libvirt()
        self.start_nova('nova-compute')

    def kill_compute(self):
        """kill -9 nova-compute (the end-to-end tests' fault)."""
        pid = self.pid('nova-compute')
        if pid:
            os.kill(pid, signal.SIGKILL)
            self.wait_for('nova-compute to die',
                          lambda: not self.pid('nova-compute'), 30)
        self.pidfile('nova-compute').unlink(missing_ok=True)

    def pause(self, name):
        """SIGSTOP service ``name``: it keeps its sockets, does nothing."""
        pid = self.pid(name)
        if not pid:
            raise Failed(f'{name} is not running')
        os.kill(pid, signal.SIGSTOP)

    def resume(self, name):
        """SIGCONT what pause() stopped."""
        pid = self.pid(name)
        if pid:
            os.kill(pid, signal.SIGCONT)

    # -- REST --------------------------------------------------------

    def token(self, user='admin', project='admin'):
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'domain': {'id': 'default'},
                'password': PASSWORD}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}}
        req = urllib.request.Request(
            self.url('keystone', '/v3/auth/tokens'),
            data=json.dumps(body).encode(),
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.headers['X-Subject-Token']

    def rest(self, method, url, token, body=None, headers=None,
             data=None):
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

    def keystone(self, method, path, token, body=None):
        status, out = self.rest(method, self.url('keystone', '/v3' + path),
                                token, body)
        if status >= 400:
            raise Failed(f'keystone {method} {path}: {status} {out}')
        return out

    def find_or_create(self, token, kind, name, body, query=''):
        found = self.keystone('GET', f'/{kind}?name={name}{query}',
                              token)[kind]
        if found:
            return found[0]['id']
        singular = kind[:-1]
        return self.keystone('POST', f'/{kind}', token,
                             {singular: body})[singular]['id']

    def seed_identity(self):
        """Service users, the catalog, and the member user."""
        token = self.token()
        roles = {r['name']: r['id'] for r in
                 self.keystone('GET', '/roles', token)['roles']}
        service_project = self.find_or_create(
            token, 'projects', 'service',
            {'name': 'service', 'domain_id': 'default'})
        demo_project = self.find_or_create(
            token, 'projects', 'demo',
            {'name': 'demo', 'domain_id': 'default'})

        def user(name, project, *role_names):
            uid = self.find_or_create(
                token, 'users', name,
                {'name': name, 'domain_id': 'default',
                 'password': PASSWORD, 'default_project_id': project})
            for role in role_names:
                self.keystone('PUT', f'/projects/{project}/users/{uid}/'
                              f'roles/{roles[role]}', token)
        for name in ('nova', 'placement', 'glance', 'neutron'):
            user(name, service_project, 'admin', 'service')
        user('member', demo_project, 'member', 'reader')
        admin_project = self.keystone('GET', '/projects?name=admin',
                                      token)['projects'][0]['id']
        admin = self.keystone('GET', '/users?name=admin',
                              token)['users'][0]['id']
        self.keystone('PUT', f'/projects/{demo_project}/users/{admin}/'
                      f'roles/{roles["admin"]}', token)
        for name, kind, port, path in CATALOG:
            sid = self.find_or_create(token, 'services', name,
                                      {'name': name, 'type': kind})
            have = {e['interface'] for e in self.keystone(
                'GET', f'/endpoints?service_id={sid}', token)['endpoints']}
            for interface in ('public', 'internal', 'admin'):
                if interface not in have:
                    self.keystone('POST', '/endpoints', token, {'endpoint': {
                        'service_id': sid, 'interface': interface,
                        'region_id': REGION,
                        'url': self.url(port, path)}})
        self.write_openrc('admin', 'admin')
        self.write_openrc('member', 'demo')
        return admin_project

    def openrc(self, user):
        return self.work / f'{user}-openrc'

    def os_env(self, user):
        """The OS_* variables of ``user`` (admin or member)."""
        return {
            'OS_AUTH_URL': self.url('keystone', '/v3'),
            'OS_IDENTITY_API_VERSION': '3',
            'OS_USERNAME': user,
            'OS_PASSWORD': PASSWORD,
            'OS_PROJECT_NAME': 'admin' if user == 'admin' else 'demo',
            'OS_USER_DOMAIN_ID': 'default',
            'OS_PROJECT_DOMAIN_ID': 'default',
            'OS_REGION_NAME': REGION,
        }

    def write_openrc(self, user, project):
        lines = [f'export {k}={v}' for k, v in self.os_env(user).items()]
        lines.append(f'export PATH={self.bin}:$PATH')
        self.openrc(user).write_text('\n'.join(lines) + '\n')

    def seed_images(self, token):
        """The test guest as AMI-style kernel, ramdisk and disk images."""
        glance = self.url('glance', '/v2/images')
        status, out = self.rest('GET', f'{glance}?name={IMAGE}', token)
        if status == 200 and out['images'] and all(
                i['status'] == 'active' for i in out['images']):
            return out['images'][0]['id']
        guest = realhv.image(self.root / 'build' / 'guest')
        disk = self.data / 'guest-disk.raw'
        with open(disk, 'wb') as f:
            f.truncate(1024 * 1024)

        def upload(name, path, disk_format, **props):
            status, image = self.rest('POST', glance, token, dict(
                name=name, disk_format=disk_format,
                container_format=disk_format, visibility='public', **props))
            if status != 201:
                raise Failed(f'glance: cannot create {name}: {image}')
            status, out = self.rest(
                'PUT', f'{glance}/{image["id"]}/file', token,
                data=pathlib.Path(path).read_bytes(),
                headers={'Content-Type': 'application/octet-stream'})
            if status != 204:
                raise Failed(f'glance: cannot upload {name}: {out}')
            return image['id']
        kernel = upload(f'{IMAGE}-kernel', guest['kernel'], 'aki')
        ramdisk = upload(f'{IMAGE}-ramdisk', guest['initrd'], 'ari')
        return upload(IMAGE, disk, 'ami', kernel_id=kernel,
                      ramdisk_id=ramdisk, os_command_line=guest['cmdline'])

    def seed_flavor(self, token):
        nova = self.url('nova-api', '/v2.1')
        status, out = self.rest('GET', f'{nova}/flavors', token)
        if any(f['name'] == FLAVOR['name'] for f in out['flavors']):
            return
        status, out = self.rest('POST', f'{nova}/flavors', token, {
            'flavor': {k: FLAVOR[k] for k in ('name', 'vcpus', 'ram',
                                              'disk')}})
        if status != 200:
            raise Failed(f'nova: cannot create the flavor: {out}')
        status, specs = self.rest(
            'POST', f'{nova}/flavors/{out["flavor"]["id"]}/os-extra_specs',
            token, {'extra_specs': {
                'minimum_cpu': str(FLAVOR['minimum_cpu']),
                'minimum_memory': str(FLAVOR['minimum_memory'])}})
        if status != 200:
            raise Failed(f'nova: cannot set the minimums: {specs}')

    def discover_compute(self, token):
        """Wait for nova-compute's service and map its host to cell1."""
        nova = self.url('nova-api', '/v2.1')

        def registered():
            status, out = self.rest(
                'GET', f'{nova}/os-services?binary=nova-compute', token)
            return status == 200 and any(
                s['state'] == 'up' for s in out['services'])
        self.wait_for('nova-compute to report', registered, 240,
                      name='nova-compute')
        self.nova_manage('cell_v2', 'discover_hosts')

        def hypervisor():
            status, out = self.rest('GET', f'{nova}/os-hypervisors', token)
            return status == 200 and out['hypervisors']
        self.wait_for('the hypervisor', hypervisor, 120,
                      name='nova-compute')

    # -- the whole -----------------------------------------------------

    def running(self):
        """Names of the services that run."""
        return [name for name in ALL if self.pid(name)]

    def up(self):
        start = time.monotonic()
        can_run()
        if set(self.running()) == set(ALL) and self.pid('libvirtd'):
            log('the cloud is already up; nothing to do (make aio-down '
                'first to start it again from dist/)')
            return self.timings
        self.work.mkdir(parents=True, exist_ok=True)
        if not self.data.exists() and self.logs.exists():
            shutil.rmtree(self.logs)  # a new cloud: the old one's logs go
        self.timed('virtualenv', self.ensure_venv)
        self.write_configs()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=6)
        guest = pool.submit(realhv.image, self.root / 'build' / 'guest')
        rabbit = pool.submit(self.timed, 'rabbitmq', self.start_rabbitmq)
        libvirt = pool.submit(self.start_libvirt)
        self.timed('mariadb', self.start_mariadb)
        syncs = {name: pool.submit(self.timed, f'db sync {name}',
                                   getattr(self, f'sync_{name}'))
                 for name in ('keystone', 'placement', 'glance', 'neutron',
                              'nova')}
        rabbit.result()
        stamp = time.monotonic()
        started = []
        for name, module in WSGI:
            syncs[name.split('-')[0]].result()
            self.start_wsgi(name, module)
            started.append(name)
        self.wait_http('keystone', '/v3')
        project = self.timed('keystone seed', self.seed_identity)
        for name in ('placement', 'glance', 'neutron', 'nova-api'):
            self.wait_http(name)
        self.timings.append(('API services', time.monotonic() - stamp))
        libvirt.result()
        for name in ('nova-conductor', 'nova-scheduler'):
            self.start_nova(name)
        self.start_compute()
        token = self.token()
        guest.result()
        self.timed('images', self.seed_images, token)
        self.timed('flavor', self.seed_flavor, token)
        self.timed('compute up and mapped', self.discover_compute, token)
        pool.shutdown()
        self.timings.append(('total', time.monotonic() - start))
        (self.work / 'project').write_text(project)
        return self.timings

    def down(self):
        stopped = []
        self.remove_instances()
        for name in ALL:
            if self.stop(name):
                stopped.append(name)
        if self.stop_libvirt():
            stopped.append('libvirtd')
        # gunicorn's master may have left a worker; rabbit its epmd
        self.kill_leftovers()
        for path in (self.data, self.run_dir, self.etc):
            shutil.rmtree(path, ignore_errors=True)
        for name in ('admin', 'member'):
            self.openrc(name).unlink(missing_ok=True)
        return stopped

    def remove_instances(self):
        """Destroy and undefine every domain of the cloud's libvirtd."""
        if not self.pid('libvirtd'):
            return
        virsh = ['virsh', '-q', '-c', 'qemu:///system?socket=' +
                 str(self.libvirt_socket())]
        names = subprocess.run(virsh + ['list', '--all', '--name'],
                               capture_output=True, text=True).stdout.split()
        for name in names:
            subprocess.run(virsh + ['destroy', name], capture_output=True)
            subprocess.run(virsh + ['undefine', name], capture_output=True)

    def kill_leftovers(self):
        """Processes still running from our virtualenv or data dirs."""
        marks = (str(self.venv), str(self.data), str(self.etc),
                 str(self.run_dir))
        for proc in pathlib.Path('/proc').iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cmd = (proc / 'cmdline').read_bytes().replace(b'\0', b' ')
                env = (proc / 'environ').read_bytes()
            except OSError:
                continue
            text = cmd.decode(errors='replace')
            if any(m in text for m in marks) or (
                    str(self.data / 'rabbitmq').encode() in env):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass


def can_run():
    """Raise realhv.Unavailable unless the cloud can run here."""
    realhv.can_run()  # and puts the sbin directories on PATH
    for binary in ('mariadbd', 'mariadb-install-db', 'unshare'):
        if not shutil.which(binary):
            raise realhv.Unavailable(
                f'{binary} is not installed (bindep.txt, profile "aio")')
    if not glob_rabbitmq():
        raise realhv.Unavailable('rabbitmq-server is not installed '
                                 '(bindep.txt, profile "aio")')


def glob_rabbitmq():
    return sorted(pathlib.Path('/usr/lib/rabbitmq/lib').glob(
        'rabbitmq_server-*/sbin/rabbitmq-server'))


@contextlib.contextmanager
def session(tree, root=None):
    """A cloud for the length of a ``with`` block: the end-to-end stage.

    Reuses a cloud that runs whole, and leaves it running. Otherwise
    builds the packages of ``tree`` into build/aio/dist, brings a cloud
    up from them, and tears it down afterwards, also when the block
    failed. Yields the Cloud.
    """
    root = pathlib.Path(root or patchq.ROOT)
    cloud = Cloud(root)
    if set(cloud.running()) == set(ALL):
        log('reusing the running cloud (its packages may be older than '
            'the tree: "make aio-down" to test the tree)')
        yield cloud
        return
    try:
        if cloud.running():
            log(f'a partial cloud runs ({", ".join(cloud.running())}): '
                f'stopping it first')
            cloud.down()
        queue = patchq.Queue(root)
        cloud.dist = cloud.work / 'dist'
        start = time.monotonic()
        queue.dist(pathlib.Path(tree), cloud.dist)
        for directory in patchq.PLUGINS:
            queue.dist_plugin(directory, cloud.dist)
        cloud.timings.append(('packages', time.monotonic() - start))
        log(f'packages: {time.monotonic() - start:.1f} s')
        cloud.up()
        yield cloud
    finally:
        if cloud.pid('mariadb') or cloud.running():
            start = time.monotonic()
            stopped = cloud.down()
            log(f'stopped {", ".join(stopped)} in '
                f'{time.monotonic() - start:.0f} s')


def usage(cloud):
    admin = cloud.openrc('admin')
    return f"""
The cloud is up. Every service listens on {HOST}; logs: {cloud.logs}

  . {admin}
  openstack server list
  openstack server create --flavor {FLAVOR['name']} --image {IMAGE} \\
      --nic none --wait demo
  openstack console log show demo | grep XLOUD-GUEST | tail -1
  openstack server adjust demo --vcpus {FLAVOR['vcpus']} --memory 768 --wait
  openstack server adjust show demo
  openstack console log show demo | grep XLOUD-GUEST | tail -1

A member user: . {cloud.openrc('member')}
Stop everything: make aio-down
"""


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('command', choices=('up', 'down', 'status'))
    args = parser.parse_args(argv)
    realhv.add_sbin_to_path()
    cloud = Cloud()
    try:
        if args.command == 'up':
            cloud.up()
            if cloud.timings:
                print('timings: ' + ', '.join(
                    f'{label} {seconds:.0f} s'
                    for label, seconds in cloud.timings))
            print(usage(cloud))
        elif args.command == 'down':
            stopped = cloud.down()
            log(f'stopped {", ".join(stopped) or "nothing"}')
        else:
            running = cloud.running()
            for name in ALL:
                print(f'{name:16} {"running" if name in running else "-"}')
            return 0 if running else 3
    except (Failed, realhv.Unavailable) as e:
        print(f'aio: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
