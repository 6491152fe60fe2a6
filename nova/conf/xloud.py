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
               default=30,
               min=10,
               help="""
Seconds after which an adjust whose message never reached nova-compute is
resolved as lost.

The API casts each adjust to the server's compute host. A message the
broker drops (for example one published while a RabbitMQ restart or
failover had removed the host's queue, before nova-compute declared it
again) never arrives. nova-compute resolves an adjust in flight on its
host for this long that it has not received: it reads the sizes the guest
really has from the hypervisor, records them, makes the placement
allocation match, clears the task state and fails the ``xloud-adjust``
instance action with a fault saying the message was probably lost. A lost
adjust therefore ends within ``adjust_timeout`` plus
``lost_adjust_interval`` seconds: 40 at the defaults.

An adjust nova-compute has received is never resolved this way, however
long its work takes, and a message that arrives after its adjust was
resolved changes nothing.

Possible values:

* Any integer of 10 or more (seconds). Raise it only where messages can
  wait longer than this in a host's queue.

Related options:

* ``lost_adjust_interval``: how often nova-compute looks.
"""),
    cfg.IntOpt('lost_adjust_interval',
               default=10,
               help="""
Interval in seconds at which nova-compute looks for lost adjusts.

Each look is one database query for this host's instances in the
``xloud_adjusting`` task state.

Possible values:

* 0: run at the default periodic task interval.
* Any positive integer (seconds).
* Any negative integer: never look. An adjust whose message was lost then
  stays in flight until nova-compute restarts.

Related options:

* ``adjust_timeout``
"""),
    cfg.IntOpt('agent_timeout',
               default=10,
               min=1,
               help="""
Seconds nova-compute waits for a guest agent to answer.

A vCPU shrink of a server whose image sets ``hw_qemu_guest_agent=yes`` asks
the guest's qemu-guest-agent to take the vCPUs offline before libvirt
unplugs them, and a later grow asks it to bring them back online. The guest
agent runs inside the guest, so its owner can stop it or make it hang.
libvirt waits forever for an agent's answer unless told otherwise, and the
adjust holds the server's lock while it waits: the server could not be
deleted, and its adjust would never end. Each agent call of an adjust
therefore waits at most this long. A shrink whose agent does not answer in
time fails: the server keeps the vCPUs it has, its allocation still
matches them, and the instance action's fault says the agent did not
answer.

Possible values:

* Any integer of 1 or more (seconds). A healthy agent takes vCPUs offline
  in well under a second.
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

A change applies to each guest the next time its limit is set: when it
boots, and on its next memory adjust. Until then it keeps the limit it has;
the overhead that limit was set with is recorded in the domain's metadata,
so its size is still read back right, on this host or on one it moves to.

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
