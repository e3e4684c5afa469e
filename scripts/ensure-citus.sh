#!/usr/bin/env bash
# Citus for the `citus-engine` test project: builds the vendored Citus 12.1.12 source into Debian's PostgreSQL 15
# when its extension is not installed yet. Fast when it is (one file test). Where neither the extension nor its
# source can be found it says so in one line and leaves the project to skip itself.
# with_llvm=no: no JIT bitcode, which would compile every file a second time.
# The source is looked for in $KINESQL_CITUS_SOURCE, then in shared/vendor beside the repository (CI lays shared/
# next to the clone; a git worktree one level deeper).
set -euo pipefail

pg_config=/usr/lib/postgresql/15/bin/pg_config
lib_dir=/usr/lib/postgresql/15/lib
if [ -f "$lib_dir/citus.so" ] && [ -f "$lib_dir/citus_columnar.so" ]; then
  exit 0
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
expected_sha=c76c4f86c7d8fb462dd559140a7db4cd41c0b7f23fd5a475e9ba3e30913d7dc1
source_tarball=''
for candidate in "${KINESQL_CITUS_SOURCE:-}" "$repo/../shared/vendor/citus-12.1.12.tar.gz" \
  "$repo/../../shared/vendor/citus-12.1.12.tar.gz"; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then
    source_tarball=$candidate
    break
  fi
done
if [ -z "$source_tarball" ]; then
  echo "citus: not installed and no source (shared/vendor/citus-12.1.12.tar.gz) found; the citus-engine tests will skip" >&2
  exit 0
fi
actual_sha=$(sha256sum "$source_tarball" | cut -d' ' -f1)
if [ "$actual_sha" != "$expected_sha" ]; then
  echo "citus: $source_tarball has sha256 $actual_sha, expected $expected_sha" >&2
  exit 1
fi

SUDO=''
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    # An ordinary user without sudo can neither add the build packages nor install into PostgreSQL's directories.
    echo "citus: not installed in PostgreSQL 15; run npm test once as root (it builds Citus from $source_tarball), or the citus-engine tests will skip" >&2
    exit 0
  fi
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
build_packages=(postgresql-server-dev-15 gcc make flex bison liblz4-dev libzstd-dev libkrb5-dev libssl-dev
  libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev)
missing=()
for package in "${build_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "citus: installing build packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=$(mktemp -d)
trap 'rm -rf "$build_dir"' EXIT
log="$build_dir/build.log"
echo "citus: building $(basename "$source_tarball") into PostgreSQL 15 (a few CPU-minutes)" >&2
started=$(date +%s)
if ! (tar xzf "$source_tarball" -C "$build_dir" && cd "$build_dir" &&
  PG_CONFIG=$pg_config ./configure --without-libcurl && make -j"$(nproc)" with_llvm=no && $SUDO make install with_llvm=no) >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "citus: the build failed (last lines above)" >&2
  exit 1
fi
echo "citus: built and installed in $(($(date +%s) - started)) s" >&2
