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

"""A service's WSGI application under gunicorn: the API services' unit.

Keystone, Placement, Glance, the Neutron API and nova-api each run their
WSGI module under a gunicorn of their own. A subclass names the module,
the environment the service reads its configuration from, and the
service's configuration files and database sync.
"""

import urllib.error
import urllib.request

from cloud import base

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


class WsgiService(base.Unit):
    """One API service under gunicorn."""

    #: The WSGI application, as gunicorn's wsgi_app names it.
    module = None
    #: The database sync's name in the bring-up timings.
    project = None
    #: What the health check GETs: any HTTP answer is one.
    health_path = '/'
    #: More of gunicorn.conf.py (a server hook).
    extra = ''
    #: Its configuration file, under the node's etc/.
    conf_file = None
    #: The variable that names the directory of that file.
    conf_dir_env = None

    @property
    def port(self):
        return base.PORTS[self.name]

    def url(self, path=''):
        return base.url(self.name, path)

    @property
    def conf(self):
        return self.node.conf(self.conf_file)

    def env(self):
        """What the service reads its configuration from."""
        return {self.conf_dir_env: str(self.conf.parent)}

    def sync(self):
        """Create or upgrade the service's database."""

    def start(self):
        """Start gunicorn; return once it wrote its pid file."""
        if self.pid():
            return
        # gunicorn reads ./gunicorn.conf.py: no argument to hand oslo.config
        home = self.node.run_dir / self.name
        home.mkdir(parents=True, exist_ok=True)
        pidfile = self.node.pidfile(self.name)
        (home / 'gunicorn.conf.py').write_text(GUNICORN.format(
            host=base.HOST, port=self.port, module=self.module,
            pidfile=pidfile, log=self.node.logs / f'{self.name}.log',
            env=self.env(), extra=self.extra))
        pidfile.unlink(missing_ok=True)
        self.node.spawn(self.name, [str(self.node.bin / 'gunicorn')],
                        pidfile=False, cwd=home)
        # gunicorn writes the pid file itself: wait for it, then the port
        self.node.wait_for(f'{self.name} pid file', pidfile.exists, 30)

    def ready(self):
        try:
            urllib.request.urlopen(self.url(self.health_path), timeout=10)
            return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            return False

    def wait_ready(self, timeout=180):
        self.node.wait_for(f'{self.name} on port {self.port}', self.ready,
                           timeout, name=self.name)
