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
    cfg.IntOpt('memory_overhead_mb',
               default=256,
               min=0,
               help="""
Memory in MiB a guest's QEMU process may use beyond the guest's memory.

A server whose flavor sets ``minimum_memory`` runs below its flavor's
memory, held there by the virtio balloon, and placement allocates only the
size it runs at. The balloon is a request the guest may ignore (it can
unload its balloon driver), so the libvirt driver also puts a hard limit on
the memory of the guest's QEMU process (libvirt ``<memtune><hard_limit>``,
a memory cgroup limit): the guest's current memory plus this overhead. The
limit follows every boot and every live adjust. A QEMU process that needs
more first gives back what the kernel can reclaim (its page cache; with
swap, its memory is swapped out), then the host kernel's OOM killer kills
it, and only it: the server stops, its neighbours are untouched.

The overhead is what QEMU needs for itself: its code and heap, device
emulation and I/O buffers, host page tables, and with ``virt_type=qemu``
the TCG translation cache. It is not allocated in placement; reserve it for
all guests on a host with ``[DEFAULT]reserved_host_memory_mb``. Too small a
value gets healthy guests killed; measure your guests' QEMU processes before
lowering it.

Servers of flavors without ``minimum_memory`` get no limit, as upstream.

Possible values:

* Any integer of 0 or more (MiB).

Related options:

* ``[DEFAULT]reserved_host_memory_mb``
"""),
]


def register_opts(conf):
    conf.register_group(xloud_group)
    conf.register_opts(xloud_opts, group=xloud_group)


def list_opts():
    return {xloud_group: xloud_opts}
