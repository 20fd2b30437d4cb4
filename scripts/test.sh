#!/usr/bin/env bash
# The project's test command: gofmt, go vet and go test -race for every module
# of the workspace. Database tests use MIKRO_PG_DSN and MIKRO_MYSQL_DSN; without
# them they skip (and fail when CI=true). Extra arguments go to go test.
# Packages run one at a time (-p 1): several share the test databases.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=$(go list -m -f '{{.Dir}}')
failed=()
for dir in $modules; do
  rel=${dir#"$PWD"/}
  echo "=== $rel"
  unformatted=$(gofmt -l "$dir")
  if [ -n "$unformatted" ]; then
    echo "not gofmt-ed (run gofmt -w):"
    echo "$unformatted"
    failed+=("$rel: gofmt")
    continue
  fi
  if ! (cd "$dir" && go vet ./...); then
    failed+=("$rel: go vet")
    continue
  fi
  if ! (cd "$dir" && go test -race -count=1 -p 1 "$@" ./...); then
    failed+=("$rel: go test")
  fi
done

# em compares snapshots in assembly on amd64; the portable Go path (other
# architectures, -tags purego) must build and find every change too.
echo "=== em (-tags purego)"
if ! (cd em && go vet -tags purego . && go test -tags purego -count=1 -run 'TestCleanRun|TestFlushSeesEveryFieldChange|TestFailedFlushKeepsSlots|TestParallelScanOrder' .); then
  failed+=("em: purego")
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FAILED:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo
echo "all modules passed"
