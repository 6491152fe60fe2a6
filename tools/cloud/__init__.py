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

"""The units of the one-node cloud (tools/aio.py composes them).

One module a service, as devstack's lib/<service> or a kolla-ansible
role: each holds a small class with the service's configuration, start,
health check and stop (base.Unit). base.py has what they share: the
cloud's directories and its processes (base.Node), the ports and the
config writer; seed.py fills the running cloud (users, catalog, images,
flavor); venv.py installs the services' virtualenv.

Standard library only. These modules import tools/patchq.py and
tools/realhv.py as top-level modules: tools/ must be on sys.path, as
tools/aio.py puts it.
"""
