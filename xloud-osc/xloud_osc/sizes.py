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

"""Sizes as an administrator writes them on the command line."""

import argparse
import decimal
import re

#: MiB per unit. A bare number is MiB, as ``openstack flavor create
#: --ram`` takes it; G and T are binary (GiB, TiB), as Nova counts memory.
UNITS = {
    '': 1, 'm': 1, 'mb': 1, 'mib': 1,
    'g': 1024, 'gb': 1024, 'gib': 1024,
    't': 1024 ** 2, 'tb': 1024 ** 2, 'tib': 1024 ** 2,
}

_SIZE = re.compile(r'^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$')


def memory_mb(text):
    """MiB from ``1536``, ``2048M``, ``1.5G`` or ``1T``.

    A size that is not a whole number of MiB is refused rather than
    rounded: the server gets exactly what was asked, or nothing.
    """
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a size: use MiB (1536) or a number with a '
            f'unit M, G or T (2048M, 1.5G)')
    number, unit = m.groups()
    factor = UNITS.get(unit.lower())
    if factor is None:
        raise argparse.ArgumentTypeError(
            f'{text!r}: unknown unit {unit!r}; use M, G or T')
    mib = decimal.Decimal(number) * factor
    if mib != mib.to_integral_value():
        raise argparse.ArgumentTypeError(
            f'{text!r} is {mib} MiB, not a whole number of MiB')
    if mib < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: the size must be at '
                                         f'least 1 MiB')
    return int(mib)


def vcpus(text):
    """A vCPU count: an integer of at least 1."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number '
                                         f'of vCPUs')
    if count < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: at least 1 vCPU')
    return count
