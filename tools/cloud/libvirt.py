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
