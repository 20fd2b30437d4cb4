#!/usr/bin/env bash
# The project's test command: gofmt, go vet and go test -race for every module
# of the workspace, on every store this machine has. Extra arguments go to go
# test. Packages run one at a time (-p 1): several share the test databases.
#
# Stores: MIKRO_PG_DSN, MIKRO_MYSQL_DSN and MIKRO_MONGO_URI name them; when one
# is not set, the local default is looked for (PostgreSQL on 127.0.0.1:5432 as
# user postgres, MariaDB on 127.0.0.1:3306 as root) and its mikro_test database
# created, and a MongoDB-protocol server is started: FerretDB embedded
# (tools/ferretdb), on a free loopback port, stopped at the end. SQLite needs
# nothing. A store that cannot be had is skipped by the tests (a failure under
# CI=true); the last lines say which stores ran and why any did not.
set -euo pipefail
cd "$(dirname "$0")/.."

ran=() skipped=()
have() { command -v "$1" >/dev/null 2>&1; }

if [ -z "${MIKRO_PG_DSN:-}" ]; then
  if have pg_isready && pg_isready -q -h 127.0.0.1 -p 5432 && have psql; then
    if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'mikro_test'")" != "1" ]; then
      psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE mikro_test"
    fi
    export MIKRO_PG_DSN='postgres://postgres@127.0.0.1:5432/mikro_test?sslmode=disable'
    ran+=("postgres (127.0.0.1:5432/mikro_test, found)")
  else
    skipped+=("postgres: MIKRO_PG_DSN is not set and no server answers on 127.0.0.1:5432")
  fi
else
  ran+=("postgres (MIKRO_PG_DSN)")
fi

if [ -z "${MIKRO_MYSQL_DSN:-}" ]; then
  mysql_cli=$(command -v mariadb || command -v mysql || true)
  if [ -n "$mysql_cli" ] && "$mysql_cli" -h127.0.0.1 -uroot -e "SELECT 1" >/dev/null 2>&1; then
    "$mysql_cli" -h127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS mikro_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    export MIKRO_MYSQL_DSN='root@tcp(127.0.0.1:3306)/mikro_test?parseTime=true'
    ran+=("mariadb (127.0.0.1:3306/mikro_test, found)")
  else
    skipped+=("mariadb: MIKRO_MYSQL_DSN is not set and no server answers on 127.0.0.1:3306 as root")
  fi
else
  ran+=("mariadb (MIKRO_MYSQL_DSN)")
fi
ran+=("sqlite (a file per test)")

ferret_pid=
cleanup() {
  if [ -n "$ferret_pid" ]; then kill "$ferret_pid" 2>/dev/null || true; fi
  if [ -n "${ferret_dir:-}" ]; then rm -rf "$ferret_dir"; fi
}
trap cleanup EXIT
if [ -z "${MIKRO_MONGO_URI:-}" ]; then
  # No MongoDB server can be installed here: FerretDB embedded (a module
  # outside go.work) speaks its protocol.
  echo "=== building and starting FerretDB (tools/ferretdb)"
  ferret_dir=$(mktemp -d)
  (cd tools/ferretdb && GOWORK=off go build -o "$ferret_dir/ferretdb" .)
  "$ferret_dir/ferretdb" -listen 127.0.0.1:0 -dir "$ferret_dir/data" > "$ferret_dir/uri" &
  ferret_pid=$!
  for _ in $(seq 1 60); do
    if [ -s "$ferret_dir/uri" ]; then break; fi
    sleep 1
  done
  if [ -s "$ferret_dir/uri" ]; then
    MIKRO_MONGO_URI=$(head -1 "$ferret_dir/uri")
    export MIKRO_MONGO_URI
    ran+=("mongodb (FerretDB embedded, $MIKRO_MONGO_URI)")
  else
    skipped+=("mongodb: FerretDB did not start within 60 s")
  fi
else
  ran+=("mongodb (MIKRO_MONGO_URI)")
fi

failed=()
# What the MongoDB driver relies on FerretDB for is pinned by these tests.
echo "=== tools/ferretdb"
if ! (cd tools/ferretdb && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...); then
  failed+=("tools/ferretdb: go test")
fi

modules=$(go list -m -f '{{.Dir}}')
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

echo
echo "stores that ran: ${ran[*]}"
if [ ${#skipped[@]} -gt 0 ]; then
  printf 'stores skipped: %s\n' "${skipped[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "all modules passed"
