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

"""A real hypervisor for the tests: libvirt's daemons and a tiny guest.

Standard library only. The commands:

  realhv.py can-run          say whether this machine can run real guests
  realhv.py up STATE         start the libvirt daemons that are not running,
                             remembering in STATE which ones it started
  realhv.py down STATE       stop the daemons STATE says were started
  realhv.py image CACHE      build (or reuse) the guest's kernel and
                             initramfs under CACHE; print their paths

The guest is Debian's own kernel (the package ``linux-image-amd64``
depends on), uncompressed to boot faster, and an initramfs holding
``busybox-static``, the virtio modules and ``qemu-guest-agent`` with the
shared libraries it needs, built offline from packages ``apt-get download``
fetches. Its ``/init`` loads the modules, onlines every CPU that is
hot-added (Debian's kernel leaves them offline), starts the guest agent on
the virtio-serial port named ``org.qemu.guest_agent.0`` when the domain
has one (Nova's ``hw_qemu_guest_agent=yes`` channel), and prints a status
line on the serial console whenever what it sees changes::

    XLOUD-GUEST cpus=<online> present=<present> memtotal_kib=<MemTotal>

which is what the real-hypervisor tests read to know what the guest sees.
"""

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import lzma
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

#: What libvirtd needs running beside it: virtlogd writes the serial
#: console log Nova configures, virtlockd serves the lock manager.
DAEMONS = ('virtlogd', 'virtlockd', 'libvirtd')
SOCKET = '/run/libvirt/libvirt-sock'
KVM = '/dev/kvm'
MASK = pathlib.Path('/run/xloud-realhv/no-kvm')
QEMU_CONF = '/etc/libvirt/qemu.conf'
PIDFILES = {d: f'/run/{d}.pid' for d in DAEMONS}

#: Loaded in this order: each needs the ones before it.
MODULES = ('virtio_ring', 'virtio', 'virtio_pci_legacy_dev',
           'virtio_pci_modern_dev', 'virtio_pci', 'virtio_balloon',
           'virtio_console')
STATUS = 'XLOUD-GUEST'

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /run /tmp \
    /var
/bin/busybox ln -s /run /var/run
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in %(modules)s; do
    insmod /lib/modules/$m.ko || echo "XLOUD-GUEST-ERROR insmod $m"
done
# A hot-added CPU arrives offline; bring each one online once (never
# again, so an unplug the host asks for is not fought).
uevent /bin/sh -c '[ "$SUBSYSTEM" = cpu ] && [ "$ACTION" = add ] &&
    echo 1 > /sys$DEVPATH/online' &
# The guest agent, on the virtio-serial port of Nova's agent channel
# (there is no udev to name it /dev/virtio-ports/...)
(for i in $(seq 100); do
    for p in /sys/class/virtio-ports/*; do
        if [ "$(cat $p/name 2>/dev/null)" = %(agent_port)s ]; then
            echo "XLOUD-GUEST-AGENT ${p##*/}"
            mkdir -p /run/qga
            exec qemu-ga -m virtio-serial -p /dev/${p##*/} -t /run/qga \
                -f /run/qga.pid
        fi
    done
    sleep 0.1
done) &
# Commands from the tests, typed on the serial console: a line
# "XLOUD-RUN <id> <command>" runs <command>, its output framed by
# "XLOUD-RUN-BEGIN <id>" and "XLOUD-RUN-END <id> rc=<status>".
stty -echo < /dev/console
while read -r tag id cmd; do
    [ "$tag" = XLOUD-RUN ] || continue
    echo "XLOUD-RUN-BEGIN $id"
    sh -c "$cmd" < /dev/null 2>&1
    echo "XLOUD-RUN-END $id rc=$?"
done < /dev/console &
last=
while :; do
    cpus=0
    present=0
    for c in /sys/devices/system/cpu/cpu[0-9]*; do
        present=$((present + 1))
        if [ ! -e $c/online ] || [ "$(cat $c/online)" = 1 ]; then
            cpus=$((cpus + 1))
        fi
    done
    mem=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
    now="cpus=$cpus present=$present memtotal_kib=$mem"
    if [ "$now" != "$last" ]; then
        echo "%(status)s $now"
        last=$now
    fi
    sleep 0.1
done
""" % {'modules': ' '.join(MODULES), 'status': STATUS,
       'agent_port': 'org.qemu.guest_agent.0'}

#: The kernel command line the guest boots with.
CMDLINE = 'console=ttyS0 quiet loglevel=1 panic=-1'


class Unavailable(Exception):
    """This machine cannot run real guests; the message says why."""


def log(message):
    print(f'realhv: {message}', file=sys.stderr, flush=True)


#: Where Debian installs daemons and admin tools (libvirtd, mariadbd).
#: A root shell that is not a login shell (a CI runner, cron, sudo
#: without secure_path) may lack them on PATH.
SBIN = ('/usr/local/sbin', '/usr/sbin', '/sbin')


def add_sbin_to_path(environ=os.environ):
    """Append the sbin directories PATH lacks, for us and our children."""
    parts = [p for p in environ.get('PATH', '').split(os.pathsep) if p]
    environ['PATH'] = os.pathsep.join(
        parts + [d for d in SBIN if d not in parts])


def can_run():
    """Raise Unavailable unless real guests can run here."""
    add_sbin_to_path()
    if os.geteuid() != 0:
        raise Unavailable('not root: libvirtd needs root, and so do the '
                          'Debian packages it comes from')
    for tool in ('libvirtd', 'virtlogd', 'virtlockd', 'qemu-system-x86_64',
                 'apt-get', 'dpkg-deb'):
        if shutil.which(tool) is None:
            raise Unavailable(f'{tool} is not installed (bindep.txt lists '
                              f'its package in the "test" profile)')
    # QEMU opens these for every guest (the rng device reads urandom)
    for dev in ('/dev/null', '/dev/urandom'):
        if not os.access(dev, os.R_OK | os.W_OK):
            raise Unavailable(f'no access to {dev}')


def socket_answers(path=SOCKET):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _running(daemon):
    try:
        pid = int(pathlib.Path(PIDFILES[daemon]).read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


#: An LD_PRELOAD for libvirtd where it may not raise resource limits; see
#: memlock_shim().
MEMLOCK_SHIM = r"""/* written by tools/realhv.py: see memlock_shim() there */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/resource.h>

typedef int (*prlimit_fn)(pid_t, enum __rlimit_resource,
                          const struct rlimit64 *, struct rlimit64 *);

int prlimit64(pid_t pid, enum __rlimit_resource resource,
              const struct rlimit64 *new_limit, struct rlimit64 *old_limit)
{
    static prlimit_fn real;
    struct rlimit64 now, clamped;

    if (!real)
        real = (prlimit_fn)dlsym(RTLD_NEXT, "prlimit64");
    if (resource == RLIMIT_MEMLOCK && new_limit &&
        real(pid, resource, NULL, &now) == 0 &&
        new_limit->rlim_max > now.rlim_max) {
        clamped.rlim_max = now.rlim_max;
        clamped.rlim_cur = new_limit->rlim_cur < now.rlim_max ?
            new_limit->rlim_cur : now.rlim_max;
        return real(pid, resource, &clamped, old_limit);
    }
    return real(pid, resource, new_limit, old_limit);
}

int setrlimit64(enum __rlimit_resource resource, const struct rlimit64 *rlim)
{
    return prlimit64(0, resource, rlim, NULL);
}
"""
CAP_SYS_RESOURCE = 24


def can_raise_limits():
    """Whether this process may raise its hard resource limits."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('CapEff:'):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return True


def memlock_shim():
    """Environment for libvirtd where it may not raise RLIMIT_MEMLOCK.

    A domain with ``<memtune><hard_limit>`` (as every guest of a flavor
    with ``minimum_memory`` has) makes libvirt 9.0 set its QEMU's
    locked-memory limit to the hard limit before QEMU starts. A root that
    lacks CAP_SYS_RESOURCE (containers and sandboxes drop it) cannot raise
    a hard resource limit, so libvirt fails to start the domain ("cannot
    limit locked memory ... Operation not permitted"). These guests lock
    no memory, so a small library preloaded into this libvirtd keeps that
    limit where it is instead. The memory cgroup limit, which is what the
    tests are about, is not touched. Needs a C compiler (``cc``); without
    one, libvirtd starts as it is, and guests with a memory limit fail to
    start.
    """
    if can_raise_limits():
        return {}
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc is None:
        log('this root cannot raise resource limits and there is no C '
            'compiler for the locked-memory shim: guests with a memory '
            'hard limit will not start')
        return {}
    with _SHIM_LOCK:
        shim = _build_shim(cc, MASK.parent)
    if shim is None:
        return {}
    log('this root cannot raise resource limits (no CAP_SYS_RESOURCE): '
        f'libvirtd keeps its locked-memory limit ({shim})')
    return {'LD_PRELOAD': str(shim)}


#: The two libvirtds of a two-compute cloud start at once.
_SHIM_LOCK = threading.Lock()


def _build_shim(cc, directory):
    """The shim built from MEMLOCK_SHIM in ``directory``, or None.

    Built once: a libvirtd may be starting with the one there. A new
    build goes to a file of its own and is renamed into place, so no
    libvirtd ever preloads a file half written ("file too short", and
    ld.so ignores it).
    """
    source = directory / 'memlock.c'
    shim = directory / 'memlock.so'
    if (shim.exists() and source.exists() and
            source.read_text() == MEMLOCK_SHIM):
        return shim
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f'memlock.so.{os.getpid()}'
    source.write_text(MEMLOCK_SHIM)
    built = subprocess.run([cc, '-shared', '-fPIC', '-O2', '-o',
                            str(partial), str(source), '-ldl'],
                           capture_output=True, text=True)
    if built.returncode:
        partial.unlink(missing_ok=True)
        source.unlink(missing_ok=True)
        log(f'cannot build the locked-memory shim: guests with a memory '
            f'hard limit will not start:\n{built.stderr}')
        return None
    partial.chmod(0o755)  # QEMU, which may inherit it, runs as libvirt-qemu
    os.replace(partial, shim)
    return shim


def _start_without_kvm(binary, env=None):
    """Start libvirtd in a mount namespace where /dev/kvm cannot be opened.

    The guests here are TCG (``type='qemu'``): KVM aborts on these
    machines. A libvirtd that sees a /dev/kvm finds KVM when it probes
    QEMU's capabilities, then, checking its cache with the access of the
    QEMU user (who cannot open /dev/kvm here), decides KVM "became
    unusable" and probes again: about 60 s, on every domain definition.
    Masking /dev/kvm for libvirtd and its QEMUs alone keeps the probe and
    the check in agreement, and changes nothing outside them.
    """
    MASK.parent.mkdir(parents=True, exist_ok=True)
    MASK.touch()
    MASK.chmod(0)
    # libvirt would give each QEMU a private /dev, and it cannot carry a
    # mount (the mask) into one: that namespace is turned off, for this
    # libvirtd only, by a qemu.conf of its own.
    conf = MASK.parent / 'qemu.conf'
    system_conf = pathlib.Path(QEMU_CONF)
    conf.write_text((system_conf.read_text() if system_conf.exists()
                     else '') + '\n# tools/realhv.py\nnamespaces = []\n')
    script = (f'mount --bind {MASK} {KVM} && '
              f'mount --bind {conf} {QEMU_CONF} && exec {binary} -d')
    subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh',
                    '-c', script], check=True, env=env)


def up(state):
    """Start the daemons that are not running; record them in ``state``."""
    can_run()
    started = []
    for daemon in DAEMONS:
        if _running(daemon):
            continue
        binary = shutil.which(daemon) or f'/usr/sbin/{daemon}'
        env = None
        if daemon == 'libvirtd':
            MASK.parent.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, **memlock_shim())
        if daemon == 'libvirtd' and os.path.exists(KVM):
            try:
                _start_without_kvm(binary, env)
            except (OSError, subprocess.CalledProcessError) as e:
                # slower (see _start_without_kvm), but it works
                log(f'cannot hide /dev/kvm from libvirtd ({e}); '
                    f'starting it as it is')
                subprocess.run([binary, '-d'], check=True, env=env)
        else:
            subprocess.run([binary, '-d'], check=True, env=env)
        started.append(daemon)
        log(f'started {daemon}')
    deadline = time.monotonic() + 30
    while not socket_answers():
        if time.monotonic() > deadline:
            raise Unavailable(f'libvirtd does not answer on {SOCKET}')
        time.sleep(0.1)
    state = pathlib.Path(state)
    state.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(state.read_text()) if state.exists() else []
    state.write_text(json.dumps(sorted(set(previous + started))))
    return started


def down(state):
    """Stop the daemons ``up`` started, libvirtd first."""
    state = pathlib.Path(state)
    if not state.exists():
        return []
    stopped = []
    for daemon in reversed(DAEMONS):
        if daemon not in json.loads(state.read_text()):
            continue
        pid = _running(daemon)
        if pid:
            os.kill(pid, 15)
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
                time.sleep(0.05)
            stopped.append(daemon)
            log(f'stopped {daemon}')
    state.unlink()
    return stopped


def remove_domains(prefix='xloud-hv-'):
    """Destroy and undefine every domain the tests may have left."""
    virsh = ['virsh', '-q', '-c', 'qemu:///system']
    names = subprocess.run(virsh + ['list', '--all', '--name'],
                           capture_output=True, text=True).stdout.split()
    for name in names:
        if name.startswith(prefix):
            subprocess.run(virsh + ['destroy', name], capture_output=True)
            subprocess.run(virsh + ['undefine', name], capture_output=True)
            log(f'removed the leftover domain {name}')


def _apt(*args, cwd=None):
    return subprocess.run(['apt-get', '-qq', '-o', 'Acquire::Retries=3',
                           '-o', 'DPkg::Lock::Timeout=300', *args],
                          cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def _kernel_package():
    """The versioned kernel package linux-image-amd64 depends on."""
    for attempt in range(2):
        proc = subprocess.run(['apt-cache', 'depends', 'linux-image-amd64'],
                              capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            dep = line.strip()
            if dep.startswith('Depends: linux-image-'):
                return dep.split(': ', 1)[1]
        if attempt == 0 and os.geteuid() == 0:
            _apt('update')  # a machine that never ran apt-get update
    raise Unavailable('apt cannot resolve linux-image-amd64')


def _download(packages, dest):
    """``apt-get download`` ``packages`` into ``dest``; {package: .deb}."""
    dest.mkdir(parents=True, exist_ok=True)
    debs = {}
    missing = []
    for package in packages:
        found = sorted(dest.glob(f'{package}_*.deb'))
        if found:
            debs[package] = found[-1]
        else:
            missing.append(package)
    if missing:
        # _apt cannot write into a 0700 home; fetch via a world-readable
        # temporary directory
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            _apt('download', *missing, cwd=tmp)
            for deb in pathlib.Path(tmp).glob('*.deb'):
                shutil.move(str(deb), dest / deb.name)
        return _download(packages, dest)
    return debs


#: The guest agent and where its libraries go in the initramfs.
AGENT_PACKAGE = 'qemu-guest-agent'
AGENT = './usr/sbin/qemu-ga'
LIBDIR = 'lib/x86_64-linux-gnu'
LOADER = 'lib64/ld-linux-x86-64.so.2'


def _depends(package):
    """The library packages ``package`` depends on (not Pre-Depends)."""
    out = subprocess.run(['apt-cache', 'depends', package],
                         capture_output=True, text=True).stdout
    return [line.split(': ', 1)[1] for line in out.splitlines()
            if line.strip().startswith('Depends: lib')]


def _library_closure(package):
    """``package`` and every library package it depends on, recursively."""
    found, todo = [], [package]
    while todo:
        name = todo.pop()
        if name in found or name.startswith('<'):
            continue
        found.append(name)
        todo.extend(_depends(name))
    return found


def _needed(elf):
    """The DT_NEEDED sonames of a 64-bit little-endian ELF image."""
    shoff, = struct.unpack_from('<Q', elf, 0x28)
    shentsize, shnum = struct.unpack_from('<HH', elf, 0x3a)
    sections = [struct.unpack_from('<IIQQQQIIQQ', elf, shoff + i * shentsize)
                for i in range(shnum)]
    for _name, kind, _f, _a, offset, size, link, _i, _al, _e in sections:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][4]
        names = []
        for pos in range(offset, offset + size, 16):
            tag, value = struct.unpack_from('<qQ', elf, pos)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = elf.index(b'\0', strtab + value)
                names.append(elf[strtab + value:end].decode())
        return names
    return []


def _agent_files(debs):
    """{initramfs path: bytes}: qemu-ga and the libraries it loads."""
    libraries = {}  # soname -> bytes, from every library package
    agent = None
    for package, deb in debs.items():
        with _deb_members(deb) as tar:
            members = {os.path.normpath(m.name): m for m in tar}
            for name, member in members.items():
                if package == AGENT_PACKAGE and name == os.path.normpath(
                        AGENT):
                    agent = tar.extractfile(member).read()
                    continue
                base = pathlib.PurePosixPath(name)
                if (base.parent.name != 'x86_64-linux-gnu' or
                        '.so' not in base.name):
                    continue
                while member.issym():  # a soname is a link to the file
                    member = members.get(os.path.normpath(
                        str(base.parent / member.linkname)))
                    if member is None:
                        break
                if member is not None and member.isfile():
                    libraries[base.name] = tar.extractfile(member).read()
    if agent is None:
        raise Unavailable(f'{AGENT_PACKAGE} has no {AGENT}')
    files = {'bin/qemu-ga': agent}
    todo = _needed(agent)
    while todo:
        soname = todo.pop()
        if f'{LIBDIR}/{soname}' in files:
            continue
        if soname not in libraries:
            raise Unavailable(f'no package of {AGENT_PACKAGE} has {soname}')
        files[f'{LIBDIR}/{soname}'] = libraries[soname]
        todo.extend(_needed(libraries[soname]))
    files[LOADER] = libraries['ld-linux-x86-64.so.2']
    return files


def _deb_members(deb):
    """A tarfile over a .deb's data, as dpkg-deb unpacks it."""
    data = subprocess.run(['dpkg-deb', '--fsys-tarfile', str(deb)],
                          check=True, capture_output=True).stdout
    return tarfile.open(fileobj=io.BytesIO(data))


class Cpio:
    """A "newc" cpio archive, the format the kernel unpacks at boot."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        name = name.encode() + b'\0'
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0],
                  rdev[1], len(name), 0]
        self.ino += 1
        self.buf.write(b'070701' + ''.join(
            f'{f:08x}' for f in fields).encode() + name)
        self.buf.write(b'\0' * (-(110 + len(name)) % 4))
        self.buf.write(data)
        self.buf.write(b'\0' * (-len(data) % 4))

    def dir(self, name):
        self._entry(name, 0o040755)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def chardev(self, name, major, minor):
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry('TRAILER!!!', 0)
        return self.buf.getvalue()


def _uncompressed(bzimage):
    """The ELF vmlinux inside a bzImage, else the bzImage itself.

    QEMU boots an ELF kernel through its PVH entry point (Debian's kernel
    has CONFIG_PVH), skipping the decompression, which under TCG halves
    the boot: about 4 s instead of 8 here.
    """
    start = bzimage.find(b'\xfd7zXZ\x00')
    if start < 0:
        return bzimage
    try:
        vmlinux = lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(
            bzimage[start:])
    except lzma.LZMAError:
        return bzimage
    return vmlinux if vmlinux.startswith(b'\x7fELF') else bzimage


def image(cache):
    """Build, or reuse from ``cache``, the guest's kernel and initramfs.

    :returns: {'kernel': path, 'initrd': path, 'cmdline': str}
    """
    cache = pathlib.Path(cache).resolve()
    kernel_pkg = _kernel_package()
    debs = _download([kernel_pkg, 'busybox-static'] +
                     _library_closure(AGENT_PACKAGE), cache / 'debs')
    key = hashlib.sha256(
        (INIT + ''.join(d.name for d in debs.values()) + 'pvh').encode()
    ).hexdigest()[:16]
    out = cache / key
    result = {'kernel': str(out / 'kernel'), 'initrd': str(out / 'initrd'),
              'cmdline': CMDLINE}
    if (out / 'initrd').exists():
        return result
    start = time.monotonic()
    tmp = cache / f'{key}.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    archive = Cpio()
    for d in ('bin', 'dev', 'lib', 'lib/modules', LIBDIR, 'lib64', 'proc',
              'sys'):
        archive.dir(d)
    archive.chardev('dev/console', 5, 1)
    archive.file('init', INIT.encode(), 0o755)
    modules = {}
    with _deb_members(debs[kernel_pkg]) as tar:
        for member in tar:
            name = pathlib.PurePosixPath(member.name)
            if name.parent.name == 'boot' and name.name.startswith(
                    'vmlinuz-'):
                (tmp / 'kernel').write_bytes(
                    _uncompressed(tar.extractfile(member).read()))
            elif name.suffix == '.ko' and name.stem in MODULES:
                modules[name.stem] = tar.extractfile(member).read()
    if sorted(modules) != sorted(MODULES):
        raise Unavailable(f'{kernel_pkg} lacks the modules '
                          f'{sorted(set(MODULES) - set(modules))}')
    for name in MODULES:
        archive.file(f'lib/modules/{name}.ko', modules[name])
    with _deb_members(debs['busybox-static']) as tar:
        busybox = tar.extractfile('./bin/busybox').read()
    archive.file('bin/busybox', busybox, 0o755)
    for path, data in sorted(_agent_files(
            {p: d for p, d in debs.items()
             if p not in (kernel_pkg, 'busybox-static')}).items()):
        archive.file(path, data, 0o755)
    (tmp / 'initrd').write_bytes(gzip.compress(archive.finish(), 6))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(f'built the guest image {out} in {time.monotonic() - start:.1f} s '
        f'({(out / "initrd").stat().st_size // 1024} KiB initramfs)')
    return result


@contextlib.contextmanager
def session(work, cache):
    """A real hypervisor for the length of a ``with`` block.

    Brings the daemons up, removes domains earlier runs left, builds (or
    reuses) the guest image in ``cache`` and yields the path of its JSON
    description in ``work``; afterwards removes the domains again and
    stops the daemons it started, also when the block failed.
    """
    work = pathlib.Path(work)
    work.mkdir(parents=True, exist_ok=True)
    state = work / 'daemons.json'
    try:
        up(state)
        remove_domains()
        description = work / 'image.json'
        description.write_text(json.dumps(image(cache)))
        yield description
    finally:
        remove_domains()
        down(state)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('can-run', help='can real guests run here?')
    for name in ('up', 'down'):
        p = sub.add_parser(name, help=f'bring the libvirt daemons {name}')
        p.add_argument('state', help='file recording what "up" started')
    p = sub.add_parser('image', help='build or reuse the guest image')
    p.add_argument('cache', help='directory holding the image and debs')
    args = parser.parse_args(argv)
    try:
        if args.command == 'can-run':
            can_run()
            print('yes')
        elif args.command == 'up':
            up(args.state)
        elif args.command == 'down':
            down(args.state)
        else:
            print(json.dumps(image(args.cache), indent=1))
    except Unavailable as e:
        print(f'realhv: cannot run real guests here: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
