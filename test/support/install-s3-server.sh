#!/usr/bin/env bash
# Makes sure the real S3 server used by the tests (Ceph's radosgw) is installed.
set -euo pipefail
if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Ceph radosgw (a real S3 server for the tests) with apt-get..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw ceph-common >/dev/null
  exit 0
fi
echo "The tests need Ceph's radosgw: sudo apt-get install ceph-mon ceph-osd radosgw ceph-common" >&2
exit 1
