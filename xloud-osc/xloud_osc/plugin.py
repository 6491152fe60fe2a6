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

"""The OpenStackClient plugin interface of XLoud Nova.

OSC finds this module through the ``openstack.cli.extension`` entry point
and loads the commands of the ``openstack.xloud.v1`` group. The commands
talk to Nova's compute endpoint through the session OSC already holds.
"""

from osc_lib import utils

#: The name of the entry point, of the client manager attribute
#: (``client_manager.xloud``) and of the command group ``openstack.xloud.v1``.
API_NAME = 'xloud'
#: ``--os-xloud-api-version``: the version of this plugin's command set,
#: not a compute API microversion.
API_VERSION_OPTION = 'os_xloud_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = {
    '1': 'xloud_osc.v1.client.Client',
}


def make_client(instance):
    """The xloud client of OSC's client manager.

    It wraps openstacksdk's compute proxy of the client manager, so it
    shares OSC's keystoneauth session, its compute endpoint and its
    region and interface options.
    """
    cls = utils.get_client_class(API_NAME, instance._api_version[API_NAME],
                                 API_VERSIONS)
    return cls(instance.sdk_connection.compute)


def build_option_parser(parser):
    """Add the plugin's global option to OSC's parser."""
    parser.add_argument(
        '--os-xloud-api-version',
        metavar='<xloud-api-version>',
        default=utils.env('OS_XLOUD_API_VERSION'),
        help='XLoud command set version, default=%s '
             '(Env: OS_XLOUD_API_VERSION)' % DEFAULT_API_VERSION)
    return parser
