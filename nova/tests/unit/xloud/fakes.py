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

"""What the XLoud unit tests share: an adjustable flavor and a server of it."""

from nova import objects
from nova.xloud import records


def flavor():
    """vcpus=4, memory_mb=2048, with minimums 1 and 512."""
    return objects.Flavor(flavorid='xl', vcpus=4, memory_mb=2048,
                          extra_specs={'minimum_cpu': '1',
                                       'minimum_memory': '512'})


def adjusted_sysmeta():
    """An earlier persisted adjust: 2 vCPUs and 1024 MiB, live and next."""
    return {records.SYSMETA_FLAVOR: 'xl',
            records.SYSMETA_VCPUS: '2', records.SYSMETA_MEMORY_MB: '1024',
            records.SYSMETA_LIVE_VCPUS: '2',
            records.SYSMETA_LIVE_MEMORY_MB: '1024'}
