#!/bin/bash
# Install the Debian packages that bindep.txt names for a profile and that
# are missing. Needs root for apt-get; otherwise it lists what is missing.
set -euo pipefail
profile=${1:-test}
bindep=${VENV:-.venv}/bin/bindep
missing=$("$bindep" -b "$profile" || true)
if [ -z "$missing" ]; then
    echo "bindep: every '$profile' package is installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "bindep: missing Debian packages; as root, run:" >&2
    echo "  apt-get install $(echo $missing)" >&2
    exit 1
fi
echo "bindep: installing $(echo $missing)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $missing
