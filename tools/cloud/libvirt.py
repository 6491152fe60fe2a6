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

"""A libvirtd of the cloud's own, with private state.

The real-hypervisor suite's libvirtd is the machine's: anything else on
this machine may define domains on it, and a new nova-compute refuses to
start on a hypervisor with domains it does not know. So this libvirtd,
with its virtlogd and virtlockd, runs in a mount namespace where
/run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /etc/libvirt are
directories under build/aio/data/libvirt; its socket is reachable from
outside there. As in tools/realhv.py, /dev/kvm is masked (TCG only) and
QEMU gets no private /dev.
"""

import os
import shutil
import signal
import subprocess
import time

from cloud import base
import realhv

#: What the namespace mounts over the host's: {sub-directory: target}.
MOUNTS = {'run': '/run/libvirt', 'lib': '/var/lib/libvirt',
          'cache': '/var/cache/libvirt', 'etc': '/etc/libvirt'}


class Libvirt(base.Unit):

    name = 'libvirtd'

    @property
    def home(self):
        return self.node.data / 'libvirt'

    @property
    def socket(self):
        return self.home / 'run' / 'libvirt-sock'

    @property
    def uri(self):
        return 'qemu:///system?socket=' + str(self.socket)

    def config(self):
        for sub in MOUNTS:
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        etc = self.home / 'etc'
        if not (etc / 'qemu.conf').exists():
            shutil.copytree('/etc/libvirt', etc, dirs_exist_ok=True,
                            ignore=lambda d, names: [
                                n for n in names if n.endswith('.xml')])
            with open(etc / 'qemu.conf', 'a') as f:
                f.write('\n# tools/aio.py\nnamespaces = []\n')

    def start(self):
        """Start the daemons and wait for libvirtd's socket."""
        if self.pid():
            return
        self.config()
        run = self.node.run_dir
        mask = self.home / 'no-kvm'
        mask.touch()
        mask.chmod(0)
        # A mount point must exist: on a host where no libvirtd ran since
        # boot, /run/libvirt does not.
        binds = [f'mkdir -p {target} && mount --bind {self.home / sub} '
                 f'{target}' for sub, target in MOUNTS.items()]
        if os.path.exists(realhv.KVM):
            binds.append(f'mount --bind {mask} {realhv.KVM}')
        script = ' && '.join(binds + [
            f'/usr/sbin/virtlogd -d -p {run / "virtlogd.pid"}',
            f'/usr/sbin/virtlockd -d -p {run / "virtlockd.pid"}',
            f'exec /usr/sbin/libvirtd -p {run / "libvirtd-d.pid"}'])
        realhv.MASK.parent.mkdir(parents=True, exist_ok=True)
        self.node.spawn(self.name, ['unshare', '--mount', '--propagation',
                                    'private', 'sh', '-c', script],
                        env=realhv.memlock_shim())
        self.wait_ready(60)

    def ready(self):
        return realhv.socket_answers(str(self.socket))

    def wait_ready(self, timeout=180):
        self.node.wait_for('libvirtd', self.ready, timeout, name=self.name)

    def stop(self):
        for name in ('virtlogd', 'virtlockd'):
            try:
                pid = int((self.node.run_dir / f'{name}.pid').read_text())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                pass
        return super().stop()

    def remove_domains(self):
        """Destroy and undefine every domain of this libvirtd."""
        if not self.pid():
            return
        virsh = ['virsh', '-q', '-c', self.uri]
        names = subprocess.run(virsh + ['list', '--all', '--name'],
                               capture_output=True, text=True).stdout.split()
        for name in names:
            subprocess.run(virsh + ['destroy', name], capture_output=True)
            subprocess.run(virsh + ['undefine', name], capture_output=True)


#: The libvirt nodes of a two-compute cloud: {nova host: settings}. Each
#: libvirtd listens (plain TCP, no auth) on its own loopback address, and
#: its QEMUs receive migrations there, on a port range of their own.
NODES = {
    'aio': {'ip': '127.0.0.2', 'ports': (49500, 49519),
            'uuid': '78636c6f-7564-4100-8000-000000000001'},
    'aio2': {'ip': '127.0.0.3', 'ports': (49520, 49539),
             'uuid': '78636c6f-7564-4100-8000-000000000002'},
}
TCP_PORT = 16509
CGROUP_ROOT = '/sys/fs/cgroup'


def cgroup_placement():
    """{hierarchy directory under /sys/fs/cgroup: our cgroup in it}."""
    placement = {}
    with open('/proc/self/cgroup') as f:
        for line in f:
            _, ctrls, path = line.rstrip('\n').split(':', 2)
            # "0::" is cgroup v2's hierarchy of a hybrid host: libvirt 9.0
            # makes machine cgroups there too
            d = ctrls.replace('name=', '') if ctrls else 'unified'
            if os.path.isdir(f'{CGROUP_ROOT}/{d}'):
                placement[d] = path
    return placement


class NodeLibvirt(Libvirt):
    """The libvirtd of one compute "host" of a two-compute cloud.

    As Libvirt, in a mount namespace of its own; and besides:

    - a UTS namespace whose hostname is the compute's host name, since
      Nova names the hypervisor (and its resource provider) after
      libvirt's getHostname();
    - a host_uuid of its own;
    - its own cgroup in every hierarchy and a cgroup namespace rooted
      there: libvirt 9.0 on cgroup v1 puts the machine cgroups at the
      hierarchy's root as qemu-<domain id>-<name>, and the copy of a
      migrating guest would share one with the original;
    - plain TCP on its own loopback address, for the other libvirtd, and
      QEMU's incoming migrations (and NBD) on that address;
    - the node's own directories mounted over the cloud's instances_path,
      so the two computes see one path with different files behind it,
      as two hosts with local disks: Nova block-migrates between them.

    Its nova-compute runs in its namespaces (``nsenter``), on
    qemu:///system.
    """

    def __init__(self, node, host):
        super().__init__(node, f'libvirtd-{host}')
        self.host = host
        self.settings = NODES[host]

    @property
    def home(self):
        return self.node.data / 'nodes' / self.host / 'libvirt'

    @property
    def instances(self):
        """What the node sees at the cloud's instances_path."""
        return self.node.data / 'nodes' / self.host / 'instances'

    @property
    def shared_instances(self):
        return self.node.data / 'nova' / 'instances'

    @property
    def tcp_uri(self):
        return f'qemu+tcp://{self.settings["ip"]}:{TCP_PORT}/system'

    def cgroups(self):
        return {d: f'{CGROUP_ROOT}/{d}{p.rstrip("/")}/xloud-{self.host}'
                for d, p in cgroup_placement().items()}

    def config(self):
        fresh = not (self.home / 'etc' / 'qemu.conf').exists()
        super().config()
        (self.home / 'log').mkdir(exist_ok=True)
        self.instances.mkdir(parents=True, exist_ok=True)
        self.shared_instances.mkdir(parents=True, exist_ok=True)
        if not fresh:
            return
        ip, (pmin, pmax) = self.settings['ip'], self.settings['ports']
        with open(self.home / 'etc' / 'libvirtd.conf', 'a') as f:
            f.write(f'\n# tools/aio.py, compute {self.host}\n'
                    f'listen_tls = 0\nlisten_tcp = 1\n'
                    f'listen_addr = "{ip}"\ntcp_port = "{TCP_PORT}"\n'
                    f'auth_tcp = "none"\n'
                    f'host_uuid = "{self.settings["uuid"]}"\n')
        with open(self.home / 'etc' / 'qemu.conf', 'a') as f:
            f.write(f'migration_address = "{ip}"\n'
                    f'migration_host = "{ip}"\n'
                    f'migration_port_min = {pmin}\n'
                    f'migration_port_max = {pmax}\n')

    def start(self):
        if self.pid():
            return
        self.config()
        run = self.node.run_dir
        mask = self.home / 'no-kvm'
        mask.touch()
        mask.chmod(0)
        mounts = dict(MOUNTS, log='/var/log/libvirt')
        steps = [f'hostname {self.host}']
        steps += [f'mkdir -p {target} && mount --bind {self.home / sub} '
                  f'{target}' for sub, target in mounts.items()]
        steps.append(f'mount --bind {self.instances} '
                     f'{self.shared_instances}')
        if os.path.exists(realhv.KVM):
            steps.append(f'mount --bind {mask} {realhv.KVM}')
        cgroups = self.cgroups()
        for d, path in cgroups.items():
            os.makedirs(path, exist_ok=True)
            if d == 'cpuset':
                for name in ('cpuset.cpus', 'cpuset.mems'):
                    with open(os.path.join(os.path.dirname(path),
                                           name)) as src:
                        value = src.read()
                    with open(os.path.join(path, name), 'w') as dst:
                        dst.write(value)
        steps += [f'mount --bind {path} {CGROUP_ROOT}/{d}'
                  for d, path in cgroups.items()]
        name = self.name
        steps += [
            f'/usr/sbin/virtlogd -d -p {run / (name + "-virtlogd.pid")}',
            f'/usr/sbin/virtlockd -d -p {run / (name + "-virtlockd.pid")}',
            f'exec /usr/sbin/libvirtd --listen -p {run / (name + "-d.pid")}']
        enter = ' && '.join(f'echo $$ > {p}/cgroup.procs'
                            for p in cgroups.values())
        self.node.spawn(self.name, [
            'sh', '-c', f'{enter} && exec "$@"', 'sh',
            'unshare', '--mount', '--uts', '--cgroup', '--propagation',
            'private', 'sh', '-c', ' && '.join(steps)],
            env=realhv.memlock_shim())
        self.wait_ready(60)
        # the first connection probes QEMU's capabilities (seconds, cold)
        subprocess.run(['virsh', '-q', '-c', self.uri, 'version'],
                       capture_output=True)
        (self.home / 'mntns').write_text(
            os.readlink(f'/proc/{self.pid()}/ns/mnt'))

    def nsenter(self):
        """The command prefix that runs a command in the namespaces."""
        pid = self.pid()
        if not pid:
            raise base.Failed(f'{self.name} is not running')
        return ['nsenter', '-t', str(pid), '-m', '-u']

    def qemu_pids(self):
        """QEMUs in the node's mount namespace (a dead libvirtd's)."""
        try:
            ns = (self.home / 'mntns').read_text().strip()
        except OSError:
            return []
        # inode numbers of namespaces are reused: also check the mount
        mark = f' {self.home / "run"} /run/libvirt '
        pids = []
        for proc in os.listdir('/proc'):
            if not proc.isdigit():
                continue
            try:
                with open(f'/proc/{proc}/cmdline', 'rb') as f:
                    argv0 = f.read().split(b'\0')[0]
                with open(f'/proc/{proc}/mountinfo') as f:
                    mountinfo = f.read()
                if (os.readlink(f'/proc/{proc}/ns/mnt') == ns and
                        b'qemu-system' in argv0 and mark in mountinfo):
                    pids.append(int(proc))
            except OSError:
                pass
        return pids

    def stop(self):
        for name in ('virtlogd', 'virtlockd'):
            try:
                pid = int((self.node.run_dir /
                           f'{self.name}-{name}.pid').read_text())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                pass
        ran = base.Unit.stop(self)
        for pid in self.qemu_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        (self.home / 'mntns').unlink(missing_ok=True)
        self.remove_cgroups()
        return ran

    def remove_cgroups(self):
        """rmdir the node's cgroups, deepest first.

        A few tries, since processes that just died may still be counted
        in them.
        """
        for _ in range(50):
            left = False
            for path in self.cgroups().values():
                if not os.path.isdir(path):
                    continue
                subs = sorted((os.path.join(d, s)
                               for d, dirs, _f in os.walk(path)
                               for s in dirs), key=lambda p: -p.count('/'))
                for sub in subs + [path]:
                    try:
                        os.rmdir(sub)
                    except OSError:
                        left = True
            if not left:
                return
            time.sleep(0.2)
        base.log(f'{self.name}: some of its cgroups could not be removed')
