#!/usr/bin/env bash
# Lines of at most 120 characters (biome.json's lineWidth, which Biome's formatter cannot
# enforce on long strings and comments) in every .ts/.js/.mjs/.sh/.json file git tracks or would
# (new files too, so a check before the first commit sees them) but
# package-lock.json. Prints file:line for each longer line and exits 1 if there is one.
# Characters, not bytes: awk runs in the C locale (mawk has no other) and does not count
# UTF-8 continuation bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX=120
files=()
while IFS= read -r -d '' f; do
  [[ $f == package-lock.json || $f == */package-lock.json ]] && continue
  [[ -f $f ]] && files+=("$f")
done < <(git ls-files -z --cached --others --exclude-standard -- '*.ts' '*.js' '*.mjs' '*.sh' '*.json')
((${#files[@]})) || exit 0
LC_ALL=C awk -v max="$MAX" '
  {
    line = $0
    gsub(/[\200-\277]/, "", line)
    if (length(line) > max) {
      printf "%s:%d: %d characters\n", FILENAME, FNR, length(line)
      bad++
    }
  }
  END {
    if (bad) {
      printf "%d line(s) longer than %d characters\n", bad, max
      exit 1
    }
  }
' "${files[@]}"
