#!/bin/sh
# Install what kshot needs on Debian 12, and nothing when it is all present
# (so a machine that has everything needs no network). Run by `make setup`.
set -eu

PACKAGES="build-essential pkg-config lua5.4 liblua5.4-dev lua-filesystem lua-busted lua-argparse lua-dkjson lua-penlight
libopenblas-dev zlib1g-dev libedit-dev libpng-dev libjpeg-dev libjansson-dev
dataset-fashion-mnist valgrind"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "setup: all dependencies present"
    exit 0
fi

echo "setup: installing$missing"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
