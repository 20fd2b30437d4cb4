#!/usr/bin/env bash
# Runs go mod tidy in every module of the workspace. The modules require
# each other at a version that is only published when it is released, so
# go mod tidy (which ignores go.work) could not find them: this publishes
# the working tree at that version into a file-based module proxy
# (tools/modproxy) first, and takes our own modules out of the go.sum files
# afterwards (their hashes would be those of the working tree, not of the
# release).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/modules.sh
version=$(grep -ohE 'github\.com/mikrogo/mikro/[A-Za-z0-9/_.-]+ v[^ ]+' em/go.mod | awk '{print $2}' | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd tools/modproxy && GOWORK=off go build -o "$work/modproxy" .)
dirs=()
for dir in "${release_modules[@]}"; do dirs+=("$root/$dir"); done
"$work/modproxy" -version "$version" -out "$work/proxy" "${dirs[@]}"
export GOWORK=off GOFLAGS=-mod=mod GOPROXY="file://$work/proxy,file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)"
export GONOSUMDB=github.com/mikrogo/mikro GOSUMDB=off GOMODCACHE="$work/modcache"
for dir in "${release_modules[@]}" internal bench; do
  echo "tidy: $dir"
  (cd "$dir" && go mod tidy)
  if [ -f "$dir/go.sum" ]; then
    sed -i '\#^github\.com/mikrogo/mikro/#d' "$dir/go.sum"
    [ -s "$dir/go.sum" ] || rm "$dir/go.sum"
  fi
done
chmod -R u+w "$work"
