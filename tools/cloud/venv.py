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

"""The services' virtualenv: our wheels from dist/ and the services.

Installed under the default release's constraints
(constraints/<release>.txt), and again only when a wheel, the
constraints or the list of services changed.
"""

import hashlib
import sys

from cloud import base
import patchq

#: The Python packages beside our nova (the versions the issue measured).
SERVICES_PIP = ('keystone==30.0.0', 'glance==33.0.0', 'neutron==29.0.0',
                'openstack-placement==16.0.0', 'python-openstackclient',
                'gunicorn==27.0.1', 'PyMySQL', 'libvirt-python')


def wheels(root, dist):
    """Our wheels in ``dist`` for the default release; Failed if absent."""
    # the cloud runs the default release (the newest), as does the
    # end-to-end stage
    version = patchq.load_pins(root)[0].local_version
    found = [dist / f'nova-{version}-py3-none-any.whl']
    found += [dist / f'{module}-{version}-py3-none-any.whl'
              for module in patchq.PLUGINS.values()]
    missing = [str(w) for w in found if not w.exists()]
    if missing:
        raise base.Failed(f'build the packages first ("make dist"): '
                          f'missing {", ".join(missing)}')
    return found


def ensure(node, dist):
    """The node's virtualenv, with our wheels from ``dist`` in it."""
    found = wheels(node.root, dist)
    constraints = node.root / patchq.load_pins(node.root)[0].constraints
    digest = hashlib.sha256()
    for path in found + [constraints]:
        digest.update(path.read_bytes())
    digest.update(' '.join(SERVICES_PIP).encode())
    stamp = node.venv / '.xloud-aio'
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    python = str(node.bin / 'python')
    if not (node.bin / 'python').exists():
        node.command([sys.executable, '-m', 'venv', str(node.venv)])
    pip = [python, '-m', 'pip', 'install', '-q',
           '--disable-pip-version-check', '-c', str(constraints)]
    # a rebuilt wheel keeps its version: install it again regardless
    node.command(pip + ['--force-reinstall', '--no-deps'] +
                 [str(w) for w in found])
    node.command(pip + [str(w) for w in found] + list(SERVICES_PIP))
    node.command([python, '-m', 'pip', 'check'])
    stamp.write_text(digest.hexdigest())
