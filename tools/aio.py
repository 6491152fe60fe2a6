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
                   what to run; --computes 2: two nova-computes, each on
                   a libvirtd of its own (cloud/libvirt.py, NodeLibvirt)
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
pid file are under build/aio/. Each service is a unit of tools/cloud/,
with its configuration, start, health check and stop; this script
composes them.

The cloud holds an admin and a member user (build/aio/admin-openrc,
build/aio/member-openrc), the real-hypervisor suite's guest uploaded to
Glance as AMI-style kernel, ramdisk and disk images, and a demo flavor
with minimums. It is for trying the product and for the end-to-end tests,
not a way to deploy one (doc/source/admin/xloud-deployment.rst is).
"""

import argparse
import concurrent.futures
import contextlib
import pathlib
import shutil
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from cloud import base  # noqa: E402
from cloud import glance  # noqa: E402
from cloud import keystone  # noqa: E402
from cloud import libvirt  # noqa: E402
from cloud import mariadb  # noqa: E402
from cloud import neutron  # noqa: E402
from cloud import nova  # noqa: E402
from cloud import placement  # noqa: E402
from cloud import rabbitmq  # noqa: E402
from cloud import rest  # noqa: E402
from cloud import seed  # noqa: E402
from cloud import venv  # noqa: E402
import patchq  # noqa: E402
import realhv  # noqa: E402

# What the end-to-end tests, the benchmarks and run_checks.py use.
HOST = base.HOST
PORTS = base.PORTS
PASSWORD = base.PASSWORD
REGION = base.REGION
FLAVOR = seed.FLAVOR
IMAGE = seed.IMAGE
Failed = base.Failed
log = base.log

NOVA_SERVICES = ('nova-conductor', 'nova-scheduler', 'nova-compute')
#: The WSGI services, in the order they start.
WSGI = ('keystone', 'placement', 'glance', 'neutron', 'nova-api')
#: Stopped in this order by "down" (the reverse of starting).
ALL = NOVA_SERVICES[::-1] + WSGI[::-1] + ('rabbitmq', 'mariadb')


class Cloud:
    """The one-node cloud, composed of its units (tools/cloud/)."""

    def __init__(self, root=None, work=None, dist=None, computes=None):
        self.root = pathlib.Path(root or patchq.ROOT)
        #: Where the packages to install are: dist/ ("make dist").
        self.dist = pathlib.Path(dist or self.root / 'dist')
        self.node = base.Node(self.root,
                              work or self.root / 'build' / 'aio')
        self.work = self.node.work
        self.venv = self.node.venv
        self.bin = self.node.bin
        self.logs = self.node.logs
        self.timings = []
        node = self.node
        self.mariadb = mariadb.MariaDB(node)
        self.rabbitmq = rabbitmq.RabbitMQ(node)
        #: How many computes: what "up" was asked for, or what the
        #: cloud that runs was brought up with (the file COMPUTES).
        self.computes = computes or self.computes_running()
        #: The libvirtds of two computes, each in namespaces of its own;
        #: every one "down" may find running, whatever was asked.
        self.node_libvirts = [libvirt.NodeLibvirt(node, host)
                              for host in libvirt.NODES]
        if self.computes == 1:
            self.libvirt = libvirt.Libvirt(node)
            self.libvirts = [self.libvirt]
            self.computes_ = [nova.NovaCompute(node, self.libvirt)]
        else:
            self.libvirts = self.node_libvirts[:self.computes]
            self.libvirt = self.libvirts[0]
            self.computes_ = []
            for i, lv in enumerate(self.libvirts):
                name = 'nova-compute' if i == 0 else f'nova-compute-{lv.host}'
                self.computes_.append(nova.NovaCompute(
                    node, lv, name=name, host=lv.host,
                    config_files=[nova.conf(node),
                                  node.conf(f'nova/{name}.conf')]))
        self.wsgi = (keystone.Keystone(node), placement.Placement(node),
                     glance.Glance(node), neutron.Neutron(node),
                     nova.NovaApi(node, self.libvirt.uri))
        self.compute = self.computes_[0]
        self.nova = (nova.NovaService(node, 'nova-conductor'),
                     nova.NovaService(node, 'nova-scheduler'),
                     *self.computes_)
        #: Every unit but libvirtd by name, in the order of ALL (the
        #: second compute first).
        self.units = {u.name: u for u in self.nova[::-1] + self.wsgi[::-1] +
                      (self.rabbitmq, self.mariadb)}

    def computes_running(self):
        try:
            return int((self.work / 'COMPUTES').read_text())
        except (OSError, ValueError):
            return 1

    # -- what the end-to-end tests use ---------------------------------

    def pid(self, name):
        """The pid of service ``name`` if it runs, else None."""
        return self.node.pid(name)

    def url(self, service, path=''):
        return base.url(service, path)

    def token(self, user='admin', project='admin'):
        return rest.token(user, project)

    def rest(self, method, url, token, body=None, headers=None,
             data=None):
        """JSON over HTTP; (status, decoded body or None)."""
        return rest.request(method, url, token, body, headers, data)

    def os_env(self, user):
        """The OS_* variables of ``user`` (admin or member)."""
        return seed.os_env(user)

    def openrc(self, user):
        return seed.openrc(self.node, user)

    def restart_rabbitmq(self):
        """Stop and start RabbitMQ (the end-to-end tests' fault)."""
        self.rabbitmq.restart()

    def start_compute(self):
        """nova-compute, on the cloud's own libvirtd."""
        self.compute.start()

    def kill_compute(self):
        """kill -9 nova-compute (the end-to-end tests' fault)."""
        self.compute.kill()

    def pause(self, name):
        """SIGSTOP service ``name``: it keeps its sockets, does nothing."""
        base.Unit(self.node, name).pause()

    def resume(self, name):
        """SIGCONT what pause() stopped."""
        base.Unit(self.node, name).resume()

    # -- the whole -----------------------------------------------------

    def timed(self, label, fn, *args):
        start = time.monotonic()
        result = fn(*args)
        seconds = time.monotonic() - start
        self.timings.append((label, seconds))
        log(f'{label}: {seconds:.1f} s')
        return result

    def running(self):
        """Names of the services that run."""
        return [name for name in ALL + tuple(
            c.name for c in self.computes_[1:]) if self.pid(name)]

    def all_up(self):
        return set(self.running()) >= set(ALL) and all(
            c.pid() for c in self.computes_) and all(
            lv.pid() for lv in self.libvirts)

    def write_configs(self):
        self.node.make_dirs()
        for unit in self.wsgi:
            unit.config()
        if self.computes > 1:
            for compute in self.computes_:
                compute.node_config()

    def up(self):
        start = time.monotonic()
        can_run()
        if self.all_up():
            log('the cloud is already up; nothing to do (make aio-down '
                'first to start it again from dist/)')
            return self.timings
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / 'COMPUTES').write_text(f'{self.computes}\n')
        if not self.node.data.exists() and self.logs.exists():
            shutil.rmtree(self.logs)  # a new cloud: the old one's logs go
        self.timed('virtualenv', venv.ensure, self.node, self.dist)
        self.write_configs()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=6)
        guest = pool.submit(realhv.image, self.root / 'build' / 'guest')
        rabbit = pool.submit(self.timed, 'rabbitmq', self.rabbitmq.start)
        libvirtds = [pool.submit(lv.start) for lv in self.libvirts]
        self.timed('mariadb', self.mariadb.start)
        syncs = {unit.name: pool.submit(self.timed,
                                        f'db sync {unit.project}', unit.sync)
                 for unit in self.wsgi}
        rabbit.result()
        stamp = time.monotonic()
        for unit in self.wsgi:
            syncs[unit.name].result()
            unit.start()
        self.wsgi[0].wait_ready()
        project = self.timed('keystone seed', seed.identity, self.node)
        for unit in self.wsgi[1:]:
            unit.wait_ready()
        self.timings.append(('API services', time.monotonic() - stamp))
        for libvirtd in libvirtds:
            libvirtd.result()
        for unit in self.nova:
            unit.start()
        token = self.token()
        guest.result()
        self.timed('images', seed.images, self.node, token)
        self.timed('flavor', seed.flavor, token)
        self.timed('compute up and mapped', self.compute.discover, token,
                   [c.host for c in self.computes_]
                   if self.computes > 1 else None)
        pool.shutdown()
        self.timings.append(('total', time.monotonic() - start))
        (self.work / 'project').write_text(project)
        return self.timings

    def down(self):
        stopped = []
        libvirts = [libvirt.Libvirt(self.node)] + self.node_libvirts
        for lv in libvirts:
            lv.remove_domains()
        # a second compute too, even if this Cloud was not told of it
        units = dict(self.units)
        for host in list(libvirt.NODES)[1:]:
            name = f'nova-compute-{host}'
            units = {name: units.get(name, base.Unit(self.node, name)),
                     **units}
        for name, unit in units.items():
            if unit.stop():
                stopped.append(name)
        for lv in libvirts:
            if lv.stop():
                stopped.append(lv.name)
        # gunicorn's master may have left a worker; rabbit its epmd
        self.node.kill_leftovers(env_marks=(self.rabbitmq.home,))
        for path in (self.node.data, self.node.run_dir, self.node.etc):
            shutil.rmtree(path, ignore_errors=True)
        for name in ('admin', 'member'):
            self.openrc(name).unlink(missing_ok=True)
        (self.work / 'COMPUTES').unlink(missing_ok=True)
        return stopped


def can_run():
    """Raise realhv.Unavailable unless the cloud can run here."""
    realhv.can_run()  # and puts the sbin directories on PATH
    for binary in ('mariadbd', 'mariadb-install-db', 'unshare'):
        if not shutil.which(binary):
            raise realhv.Unavailable(
                f'{binary} is not installed (bindep.txt, profile "aio")')
    if not rabbitmq.installed():
        raise realhv.Unavailable('rabbitmq-server is not installed '
                                 '(bindep.txt, profile "aio")')


@contextlib.contextmanager
def session(tree, root=None, computes=None):
    """A cloud for the length of a ``with`` block: the end-to-end stage.

    Reuses a cloud that runs whole, and leaves it running (with the
    computes it has). Otherwise builds the packages of ``tree`` into
    build/aio/dist, brings a cloud of ``computes`` computes up from them,
    and tears it down afterwards, also when the block failed. Yields the
    Cloud.
    """
    root = pathlib.Path(root or patchq.ROOT)
    cloud = Cloud(root)
    if not cloud.all_up() and computes:
        cloud = Cloud(root, computes=computes)
    if cloud.all_up():
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
    parser.add_argument('--computes', type=int, choices=(1, 2),
                        help='up: how many nova-computes (default 1); 2: '
                        'each with a libvirtd in namespaces of its own, '
                        'live migration between them')
    args = parser.parse_args(argv)
    realhv.add_sbin_to_path()
    cloud = Cloud(computes=args.computes if args.command == 'up' else None)
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
            for name in ALL + tuple(c.name for c in cloud.computes_[1:]):
                print(f'{name:16} {"running" if name in running else "-"}')
            for lv in cloud.libvirts:
                print(f'{lv.name:16} {"running" if lv.pid() else "-"}')
            return 0 if running else 3
    except (Failed, realhv.Unavailable) as e:
        print(f'aio: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
