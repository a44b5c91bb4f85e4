#!/usr/bin/env bash
# The package as an operator gets it: `npm pack`, install the tarball into an empty folder,
# then run the installed CLI there (`--version`, and a real backup of a small database made
# with the sqlite3 CLI). Not part of `npm test`: installing compiles better-sqlite3 on
# Node 20 (about a minute). CI runs it after the tests (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "check-pack: npm pack"
cd "$root"
tgz="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "check-pack: $tgz ($(du -k "$work/$tgz" | cut -f1) KiB)"
tar -tzf "$work/$tgz" > "$work/files.txt"
for f in LICENSE README.md bin/lifeboat.js dist/cli/main.js; do
  grep -qx "package/$f" "$work/files.txt" || { echo "check-pack: $f is not in the package" >&2; exit 1; }
done

app="$work/app"
mkdir "$app"
cd "$app"
echo '{ "name": "check-pack", "private": true }' > package.json
echo "check-pack: npm install $tgz on $(node -v)"
npm install --no-audit --no-fund "$work/$tgz" > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
grep -i '^npm warn' "$work/install.log" | sed 's/^/check-pack: /' || true
if grep -q EBADENGINE "$work/install.log"; then
  # Known on Node 20 only: better-sqlite3 13 (installed as better-sqlite3-napi, loaded on
  # Node >= 22) declares node >= 22. Anything else is a new problem.
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  others="$(grep -A2 EBADENGINE "$work/install.log" | grep -E "package: '" | grep -v "better-sqlite3@13" || true)"
  if [ "$node_major" -ge 22 ] || [ -n "$others" ]; then
    cat "$work/install.log"
    echo "check-pack: engine warnings on $(node -v)" >&2
    exit 1
  fi
  echo "check-pack: known EBADENGINE on $(node -v) for better-sqlite3@13 (the Node >= 22 driver); see docs/install.md"
fi

expected="$(node -p "require('$root/package.json').version")"
got="$(npx --no-install lifeboat --version)"
[ "$got" = "$expected" ] || { echo "check-pack: lifeboat --version printed '$got', expected '$expected'" >&2; exit 1; }
echo "check-pack: lifeboat --version = $got"

sqlite3 app.db "PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
  INSERT INTO notes (body) VALUES ('one'), ('two');" > /dev/null
HQL_DATA_DIR="$app/data" npx --no-install lifeboat backup --db app.db 2> "$work/backup.log" \
  || { cat "$work/backup.log"; exit 1; }
backup="$(ls "$app"/data/state_machine/backups/backup_node_1_*.sqlite)"
rows="$(sqlite3 "$backup" 'SELECT count(*) FROM notes')"
[ "$rows" = 2 ] || { echo "check-pack: the backup has $rows rows, expected 2" >&2; exit 1; }
# Stderr off a terminal is JSON log lines only (no plain-text warnings from Node or a dependency).
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  for (const l of lines) JSON.parse(l);
' "$work/backup.log" || { cat "$work/backup.log"; echo "check-pack: stderr is not JSON lines" >&2; exit 1; }
echo "check-pack: lifeboat backup --db app.db wrote $(basename "$backup") (2 rows)"

# An application's TypeScript sees lifeboat.db typed through Lifeboat's own dependencies
# (the driver's types are one of them), with nothing installed by the application.
cat > consumer.mts <<'EOF'
import { Lifeboat } from 'lifeboat';
const lifeboat = await Lifeboat.open({ logger: console, schedule: false });
const changes: number = lifeboat.db.prepare('CREATE TABLE t (x)').run().changes;
// @ts-expect-error prepare() takes SQL text: this fails to compile unless db is typed
lifeboat.db.prepare(42);
lifeboat.on('backup', (report) => console.log(report.name, changes));
await lifeboat.close();
EOF
echo '{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
  "strict": true, "noEmit": true, "skipLibCheck": true }, "files": ["consumer.mts"] }' > tsconfig.json
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json \
  || { echo "check-pack: an application cannot type-check against the installed lifeboat" >&2; exit 1; }
echo "check-pack: an application type-checks against the installed lifeboat (lifeboat.db typed)"
echo "check-pack: ok"
