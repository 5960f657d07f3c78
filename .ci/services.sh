#!/usr/bin/env bash
# Services and tools the test suite needs, installed when missing (called by .ci/run).
# tests/state starts its own redis-server on a free port, so this only installs the
# binary (Debian's redis-server package) and starts no daemon; tests/bench counts
# instructions with valgrind (Debian's valgrind package). Idempotent, quiet, and works
# as root on a fresh Debian machine with no standard input.
set -euo pipefail

PACKAGES=()
command -v redis-server >/dev/null 2>&1 || PACKAGES+=(redis-server)
command -v callgrind_control >/dev/null 2>&1 || PACKAGES+=(valgrind)
if [ "${#PACKAGES[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the package must not start (or enable) a redis daemon of its own.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  ADDED_POLICY=1
fi
cleanup() {
  if [ "$ADDED_POLICY" -eq 1 ]; then
    $SUDO rm -f "$POLICY"
  fi
}
trap cleanup EXIT

echo "services: installing ${PACKAGES[*]} (Debian packages)"
$SUDO apt-get update -qq </dev/null >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" </dev/null >/dev/null
redis-server --version
valgrind --version
