# Copyright 2026 XLoud Nova contributors
#
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

from oslo_config import cfg

xloud_group = cfg.OptGroup(
    'xloud',
    title='XLoud live adjust options',
    help="""
Options of XLoud's live adjust (``POST /os-xloud-adjust/{server_id}``),
which grows or shrinks a running server's vCPUs and memory within the
envelope its flavor declares with ``minimum_cpu`` / ``minimum_memory``.
""")

xloud_opts = [
    cfg.IntOpt('adjust_timeout',
               default=600,
               min=30,
               help="""
Seconds an adjust may stay in flight before nova-compute resolves it.

An adjust normally finishes within seconds. One still in flight after this
long lost its message (for example when the message queue was restarted):
the compute host then reads the sizes the guest really has from the
hypervisor, records them, makes the placement allocation match, clears the
task state and fails the ``xloud-adjust`` instance action.

Possible values:

* Any integer of 30 or more (seconds).

Related options:

* ``lost_adjust_interval``: how often nova-compute looks.
"""),
    cfg.IntOpt('lost_adjust_interval',
               default=60,
               help="""
Interval in seconds at which nova-compute looks for lost adjusts.

Possible values:

* 0: run at the default periodic task interval.
* Any positive integer (seconds).
* Any negative integer: never look. An adjust whose message was lost then
  stays in flight until nova-compute restarts.

Related options:

* ``adjust_timeout``
"""),
]


def register_opts(conf):
    conf.register_group(xloud_group)
    conf.register_opts(xloud_opts, group=xloud_group)


def list_opts():
    return {xloud_group: xloud_opts}
