#!/usr/bin/env bash
# Makes sure the real S3 server used by the tests (Ceph's radosgw, started by
# test/support/radosgw.ts) is installed. Idempotent: does nothing when it is. As root with
# apt-get it installs the Debian packages quietly; otherwise it says what to install and
# exits non-zero. Called by `npm test` and CI.
set -euo pipefail
PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
BINARIES=(ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph)

missing() {
  local b
  for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || return 0; done
  return 1
}

missing || exit 0
if [ "${EUID:-$(id -u)}" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-s3-server: installing Ceph radosgw (the real S3 server for the tests): ${PACKAGES[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  if missing; then
    echo "install-s3-server: the packages were installed but a program is still missing (${BINARIES[*]})" >&2
    exit 1
  fi
  exit 0
fi
echo "install-s3-server: the tests need Ceph's radosgw. Install it with:" >&2
echo "  sudo apt-get install ${PACKAGES[*]}" >&2
exit 1
