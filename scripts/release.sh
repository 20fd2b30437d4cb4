#!/usr/bin/env bash
# Prepares a lockstep release of every module: rewrites each go.mod's
# requirements on sibling modules (github.com/mikrogo/mikro/...) to VERSION,
# and go.work's replace lines that resolve that version to the folders, runs
# the release check on the result, and prints the tags to create.
# Nothing is tagged or pushed: read the diff, commit it, then create the
# printed tags on that commit and push them.
#
#   bash scripts/release.sh v0.2.0
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-}
if ! [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "usage: scripts/release.sh vMAJOR.MINOR.PATCH" >&2
  exit 2
fi
source scripts/modules.sh
for dir in "${release_modules[@]}"; do
  for dep in $(grep -oE 'github\.com/mikrogo/mikro/[A-Za-z0-9/_.-]+ v[^ ]+' "$dir/go.mod" | awk '{print $1}' | sort -u); do
    (cd "$dir" && go mod edit -require="$dep@$version")
  done
done
# go.work resolves the new version to the folders until it is published.
sed -i -E "s#^(\s*github\.com/mikrogo/mikro/[A-Za-z0-9/_.-]+) v[^ ]+ => #\1 $version => #" go.work
bash scripts/release-check.sh
echo
echo "release $version: commit the go.mod changes, then tag that commit:"
for dir in "${release_modules[@]}"; do
  echo "  git tag ${dir}/${version}"
done
echo "  git push origin $(for dir in "${release_modules[@]}"; do printf '%s/%s ' "$dir" "$version"; done)"
