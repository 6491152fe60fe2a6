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

"""What the cloud's units share: its directories, its processes, ports.

A Node is the cloud's place under build/aio/: the virtualenv, and the
configuration, data, logs and pid files of every service. It starts
processes in their own session, outliving the caller, and stops them by
their pid file. A Unit is one service on a Node.
"""

import os
import pathlib
import re
import signal
import socket
import subprocess
import time

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


def url(service, path=''):
    """The URL of ``service`` (a key of PORTS) on this machine."""
    return f'http://{HOST}:{PORTS[service]}{path}'


class Node:
    """The cloud's directories and the processes that run from them."""

    def __init__(self, root, work):
        self.root = pathlib.Path(root)
        self.work = pathlib.Path(work).resolve()
        self.venv = self.work / 'venv'
        self.bin = self.venv / 'bin'
        self.run_dir = self.work / 'run'
        self.logs = self.work / 'log'
        self.etc = self.work / 'etc'
        self.data = self.work / 'data'
        #: Where each Nova service's log stood when it was started.
        self.offsets = {}

    def conf(self, name):
        return self.etc / name

    def make_dirs(self, *more):
        for d in (self.etc, self.data, self.logs, self.run_dir) + more:
            d.mkdir(parents=True, exist_ok=True)

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

    def app_log(self, name):
        """The log a service writes itself (beside its output's)."""
        return self.logs / f'{name}-app.log'

    def mark_log(self, name):
        """Remember where ``name``'s own log stands: it starts now."""
        log_file = self.app_log(name)
        self.offsets[name] = log_file.stat().st_size if log_file.exists(
        ) else 0

    def fatal(self, name):
        """The fatal error a Nova service logged since it started.

        A Nova service whose start fails logs the traceback and may go on
        running (its other threads do), so its pid alone says little.
        """
        try:
            with open(self.app_log(name), errors='replace') as f:
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

    def kill_leftovers(self, env_marks=()):
        """Kill what still runs from the node's directories.

        That is, a process whose command line names the virtualenv or
        the data, etc or run directory, or whose environment holds one
        of ``env_marks`` (a gunicorn worker its master left, an epmd).
        """
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
            if any(m in text for m in marks) or any(
                    str(m).encode() in env for m in env_marks):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass


class Unit:
    """One service of the cloud: configuration, start, health, stop.

    As devstack's lib/<service>: config() writes its files, start()
    starts it, ready() says whether it answers (its health check) and
    stop() stops it. ``name`` names its pid file and its log on the node,
    so that two units of one kind can run side by side under two names.
    """

    name = None

    def __init__(self, node, name=None):
        self.node = node
        if name:
            self.name = name

    def config(self):
        """Write the unit's configuration (none by default)."""

    def start(self):
        raise NotImplementedError

    def pid(self):
        return self.node.pid(self.name)

    def ready(self):
        """The health check: by default, that the process runs."""
        return bool(self.pid())

    def wait_ready(self, timeout=180):
        self.node.wait_for(self.name, self.ready, timeout, name=self.name)

    def stop(self):
        """Stop the unit; whether it ran."""
        return self.node.stop(self.name)

    def pause(self):
        """SIGSTOP the unit: it keeps its sockets, does nothing."""
        pid = self.pid()
        if not pid:
            raise Failed(f'{self.name} is not running')
        os.kill(pid, signal.SIGSTOP)

    def resume(self):
        """SIGCONT what pause() stopped."""
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGCONT)
