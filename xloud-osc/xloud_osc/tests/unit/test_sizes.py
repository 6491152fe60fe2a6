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

import argparse

import testtools

from xloud_osc import sizes


class TestMemory(testtools.TestCase):

    def test_sizes(self):
        for text, mib in (('1536', 1536), ('2048M', 2048), ('2048m', 2048),
                          ('2048MB', 2048), ('2048MiB', 2048),
                          ('1.5G', 1536), ('1.5g', 1536), ('2GB', 2048),
                          ('2GiB', 2048), ('0.5G', 512), ('.5G', 512),
                          ('1T', 1048576), (' 512 M ', 512), ('1024.0', 1024),
                          ('1.25G', 1280)):
            self.assertEqual(mib, sizes.memory_mb(text), text)

    def test_refused(self):
        for text, why in (('', 'is not a size'),
                          ('abc', 'is not a size'),
                          ('-1', 'is not a size'),
                          ('1.5.5G', 'is not a size'),
                          ('1 G B', 'is not a size'),
                          ('12K', "unknown unit 'K'"),
                          ('2X', "unknown unit 'X'"),
                          ('1.3G', 'not a whole number of MiB'),
                          ('1.5', 'not a whole number of MiB'),
                          ('0', 'at least 1 MiB'),
                          ('0G', 'at least 1 MiB')):
            e = self.assertRaises(argparse.ArgumentTypeError,
                                  sizes.memory_mb, text)
            self.assertIn(why, str(e), text)

    def test_rounding_is_exact(self):
        # Decimal, not float: 1.1G is 1126.4 MiB and is refused, while
        # 0.1T is exactly 104857.6 MiB and is refused too.
        self.assertRaises(argparse.ArgumentTypeError, sizes.memory_mb, '1.1G')
        self.assertRaises(argparse.ArgumentTypeError, sizes.memory_mb, '0.1T')
        self.assertEqual(1126, sizes.memory_mb('1126'))


class TestVcpus(testtools.TestCase):

    def test_count(self):
        self.assertEqual(4, sizes.vcpus('4'))
        self.assertEqual(1, sizes.vcpus('1'))

    def test_refused(self):
        for text, why in (('0', 'at least 1 vCPU'), ('-2', 'at least 1 vCPU'),
                          ('two', 'not a whole number'),
                          ('1.5', 'not a whole number'), ('', 'not a whole')):
            e = self.assertRaises(argparse.ArgumentTypeError, sizes.vcpus,
                                  text)
            self.assertIn(why, str(e), text)
