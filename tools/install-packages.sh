#!/bin/bash
# Install the Debian packages that bindep.txt names for the profiles given
# (default: test) and that are missing. Needs root for apt-get; otherwise
# it lists what is missing.
set -euo pipefail
if [ $# = 0 ]; then set -- test; fi
profiles="$*"
bindep=${VENV:-.venv}/bin/bindep
missing=$("$bindep" -b "$@" || true)
if [ -z "$missing" ]; then
    echo "bindep: every '$profiles' package is installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "bindep: missing Debian packages; as root, run:" >&2
    echo "  apt-get install $(echo $missing)" >&2
    exit 1
fi
echo "bindep: installing $(echo $missing)"
# Wait for another apt (unattended upgrades, a parallel job) rather than
# fail on its lock.
apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
    -o Acquire::Retries=3 \
    install -y -qq --no-install-recommends $missing
