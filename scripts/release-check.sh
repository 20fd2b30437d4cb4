#!/usr/bin/env bash
# The release check: proves that every module can be depended on alone, as a
# user outside this repository would. It publishes the working tree's modules
# at the version their go.mod files require of each other into a file-based
# module proxy (tools/modproxy), then, in scratch modules outside the
# workspace, runs go get, go mod tidy, go build and go vet for programs that
# import only qb, em on SQLite, em on PostgreSQL through em/pgxdriver, and
# mongo, and go install of the mikro command. The qb program is built with
# the Go release qb's go line names, and a driverless em program with em's,
# so the go lines are proven, not assumed. It fails if any step fails, if
# a go.mod holds a replace directive or names sibling modules at more than one
# version (or a v0.0.0 / pseudo-version), if the qb program's go.sum lists
# any module but qb, or if an em program's go.sum lists a database driver it
# did not import. Offline but for the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/modules.sh
start=$(date +%s)
fail() { echo "release-check: $*" >&2; exit 1; }

# 1. The go.mod files as committed.
versions=()
for dir in "${release_modules[@]}"; do
  [ -f "$dir/go.mod" ] || fail "$dir/go.mod is missing"
  if grep -qE '^[[:space:]]*replace([[:space:](]|$)' "$dir/go.mod"; then
    fail "$dir/go.mod has a replace directive: users of the module cannot resolve it (go.work is how this repository develops its modules together)"
  fi
  while read -r v; do versions+=("$v"); done < <(grep -oE 'github\.com/mikrogo/mikro/[A-Za-z0-9/_.-]+ v[^ ]+' "$dir/go.mod" | awk '{print $2}')
done
mapfile -t distinct < <(printf '%s\n' "${versions[@]}" | sort -u)
[ ${#distinct[@]} -eq 1 ] || fail "sibling requirements name ${#distinct[@]} versions (${distinct[*]}); they must name one, the next release (scripts/release.sh VERSION)"
version=${distinct[0]}
if [[ "$version" == v0.0.0* ]] || [[ "$version" =~ -[0-9]{14}-[0-9a-f]{12}$ ]]; then
  fail "sibling requirements name $version, which is no release; set a real one with scripts/release.sh VERSION"
fi
# go.work must resolve that version to the folders, or the workspace would
# look for a release not yet published.
for dir in "${release_modules[@]}"; do
  [ "$dir" = examples ] && continue
  grep -qE "^\s*github\.com/mikrogo/mikro/$dir $version => \./$dir\$" go.work ||
    fail "go.work does not replace github.com/mikrogo/mikro/$dir $version with ./$dir (scripts/release.sh VERSION writes it)"
done
echo "release-check: modules at $version"

# 2. A file-based proxy holding the working tree at that version.
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
(cd tools/modproxy && GOWORK=off go build -o "$work/modproxy" .)
dirs=()
for dir in "${release_modules[@]}"; do dirs+=("$root/$dir"); done
"$work/modproxy" -version "$version" -out "$work/proxy" "${dirs[@]}"

export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export GOPROXY="file://$work/proxy,file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)"
export GONOSUMDB=github.com/mikrogo/mikro GONOSUMCHECK=1 GOSUMDB=off
export GOMODCACHE="$work/modcache" GOTOOLCHAIN=local
# The module cache starts empty so that nothing resolves from a copy of the
# working tree left by an earlier run. Our modules come from the file proxy
# of the working tree; any other module from the downloads of the usual
# module cache (itself a file proxy) when it is there, else from GOPROXY.
export GOFLAGS="$GOFLAGS -modcacherw"
# -trimpath: without it the build cache keys every package by the folder
# of its source, which the fresh module cache changes on every run, so
# nothing (modernc SQLite above all) would ever be reused.

# 3. Scratch consumers, each importing what its name says.
# toolchain GOVERSION prints the go command of that release, downloaded
# once through the module proxy into the usual module cache.
toolchain() {
  local v=$1
  local dir
  dir="$(env -u GOMODCACHE go env GOMODCACHE)/golang.org/toolchain@v0.0.1-$v.$(go env GOOS)-$(go env GOARCH)"
  if [ ! -x "$dir/bin/go" ]; then
    (cd "$work" && env -u GOMODCACHE -u GOSUMDB -u GONOSUMDB -u GONOSUMCHECK -u GOPROXY GOTOOLCHAIN="$v" GOFLAGS= go version >/dev/null) || fail "cannot download the $v toolchain"
  fi
  echo "$dir/bin/go"
}
# the go line of a module folder, as a release (go1.22 means go1.22.0).
goline() {
  local v
  v=$(awk '$1 == "go" {print $2; exit}' "$1/go.mod")
  [[ "$v" =~ ^[0-9]+\.[0-9]+$ ]] && v="$v.0"
  echo "go$v"
}

consumer() { # name, then the modules to go get (GO names the go command)
  local name=$1; shift
  local dir="$work/consumers/$name"
  local go=${GO:-go} began=$SECONDS
  mkdir -p "$dir"
  cp "scripts/release-check/$name/main.go" "$dir/"
  (
    cd "$dir"
    go() { command "$go" "$@"; }
    go mod init "example.com/$name" >/dev/null 2>&1
    for m in "$@"; do
      # Our modules at the release; another (a driver) at its latest.
      case $m in github.com/mikrogo/mikro/*) m="$m@$version" ;; esac
      go get "$m" >/dev/null 2>"$dir/get.err" || { cat "$dir/get.err" >&2; fail "$name: go get $m failed"; }
    done
    go mod tidy >/dev/null 2>"$dir/tidy.err" || { cat "$dir/tidy.err" >&2; fail "$name: go mod tidy failed"; }
    go build ./... || fail "$name: go build failed"
    go vet ./... || fail "$name: go vet failed"
  )
  echo "release-check: $name: go.sum holds $(awk '{print $1}' "$dir/go.sum" | sort -u | wc -l) modules ($((SECONDS - began)) s)"
}
nodriver() { # name, then module paths its go.sum must not hold
  local name=$1; shift
  for p in "$@"; do
    if grep -q "^$p " "$work/consumers/$name/go.sum"; then
      fail "$name: go.sum lists $p, a module it does not import"
    fi
  done
}

qbgo=$(toolchain "$(goline qb)")
GO=$qbgo consumer qbonly github.com/mikrogo/mikro/qb
echo "release-check: qbonly built with $("$qbgo" version)"
others=$(awk '{print $1}' "$work/consumers/qbonly/go.sum" | sort -u | grep -vx 'github.com/mikrogo/mikro/qb' || true)
[ -z "$others" ] || fail "qbonly: go.sum must hold qb alone, it holds also: $(echo $others)"

emgo=$(toolchain "$(goline em)")
GO=$emgo consumer emonly github.com/mikrogo/mikro/em
echo "release-check: emonly built with $("$emgo" version)"
others=$(awk '{print $1}' "$work/consumers/emonly/go.sum" | sort -u | grep -vxE 'github.com/mikrogo/mikro/(em|qb)' || true)
[ -z "$others" ] || fail "emonly: go.sum must hold em and qb alone, it holds also: $(echo $others)"

consumer emsqlite github.com/mikrogo/mikro/em modernc.org/sqlite
nodriver emsqlite github.com/jackc/pgx/v5 github.com/go-sql-driver/mysql go.mongodb.org/mongo-driver/v2 github.com/mikrogo/mikro/internal
(cd "$work/consumers/emsqlite" && go run .) || fail "emsqlite: the program failed"

consumer empg github.com/mikrogo/mikro/em github.com/mikrogo/mikro/em/pgxdriver
nodriver empg modernc.org/sqlite github.com/go-sql-driver/mysql go.mongodb.org/mongo-driver/v2 github.com/mikrogo/mikro/internal

consumer mongo github.com/mikrogo/mikro/mongo
nodriver mongo github.com/jackc/pgx/v5 github.com/go-sql-driver/mysql modernc.org/sqlite github.com/mikrogo/mikro/internal

# 4. The command line and the quickstart, installed as a user would.
mkdir -p "$work/bin"
began=$SECONDS
(cd "$work" && GOBIN="$work/bin" go install "github.com/mikrogo/mikro/migrate/cmd/mikro@$version") || fail "go install of the mikro command failed"
"$work/bin/mikro" --help >/dev/null || fail "the installed mikro command does not run"
echo "release-check: go install of the mikro command ($((SECONDS - began)) s)"
began=$SECONDS
(cd "$work" && GOBIN="$work/bin" go install "github.com/mikrogo/mikro/examples/quickstart@$version") || fail "go install of the quickstart failed"
echo "release-check: go install of the quickstart ($((SECONDS - began)) s)"

echo "release-check: passed in $(( $(date +%s) - start )) s"
