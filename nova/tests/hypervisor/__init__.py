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

"""Tests against a real libvirtd and QEMU, booting a real Linux guest.

They run where ``tools/realhv.py`` has started libvirt's daemons and built
the guest image; ``make check`` does both when run as root, and passes the
image in ``XLOUD_HV_IMAGE``.
"""

# Patch as upstream's test packages do, on every release: nova 31 patches
# when nova.monkey_patch is imported, later releases when asked.
from nova import monkey_patch
if hasattr(monkey_patch, 'patch'):
    monkey_patch.patch()
