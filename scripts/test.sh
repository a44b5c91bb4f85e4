#!/usr/bin/env bash
# The test suite: typecheck, then every test file, with one real S3 server (Ceph radosgw
# on 127.0.0.1) started once and shared by all files. Node 20's test runner has no globs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/support/install-s3-server.sh
npx tsc -p tsconfig.json --noEmit
# Formatting and lint (biome.json): `npm run format` fixes what it can.
npx biome ci --reporter=summary .
# Lines of at most 120 characters, strings and comments included (Biome does not check those).
bash scripts/check-lines.sh
# A test that hangs fails after 5 minutes with its name, instead of holding CI until its limit.
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx test/support/with-s3.ts -- \
  node --import tsx --test --test-reporter=spec --test-concurrency="${LIFEBOAT_TEST_CONCURRENCY:-2}" \
  --test-timeout=300000 "${files[@]}"
