#!/usr/bin/env bash
# Builds the archived project's own MIC and NMI (github.com/Azure/aad-pod-identity at the tag in
# scripts/upstream-aad-pod-identity-tag) from the Go module proxy, as a peer for the interop and migration
# tests. `go install …@tag` is refused here (the module's version list answers 403), so a throw-away wrapper
# module requires the exact tag and `go mod tidy` resolves it (sums checked against sum.golang.org).
# Cached outside the repo, keyed by the tag, Go and this script; a second run with the same key is a no-op.
#
# Prints the directory holding `mic` and `nmi` as its last line.
# `--locate` builds nothing: it prints the directory when the binaries are there, else exits 3
# (src/devenv/upstream-binaries.ts uses it, so the cache key is computed in one place).
# Honours:
#   POD_IDENTITY_UPSTREAM_BINARIES  a directory that already holds mic and nmi: nothing is built
#   POD_IDENTITY_CACHE              cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
names=(mic nmi)
module=github.com/Azure/aad-pod-identity
locate=false
case "${1:-}" in
  --locate) locate=true ;;
  "") ;;
  *) echo "usage: build-upstream-binaries.sh [--locate]" >&2; exit 2 ;;
esac

if [ -n "${POD_IDENTITY_UPSTREAM_BINARIES:-}" ]; then
  for name in "${names[@]}"; do
    [ -x "$POD_IDENTITY_UPSTREAM_BINARIES/$name" ] || { echo "build-upstream-binaries: POD_IDENTITY_UPSTREAM_BINARIES=$POD_IDENTITY_UPSTREAM_BINARIES has no $name" >&2; exit 1; }
  done
  echo "using POD_IDENTITY_UPSTREAM_BINARIES=$POD_IDENTITY_UPSTREAM_BINARIES" >&2
  echo "$POD_IDENTITY_UPSTREAM_BINARIES"; exit 0
fi

# The one place the upstream tag is written (src/devenv/upstream-binaries.ts reads the same file).
TAG=$(tr -d '[:space:]' <"$root/scripts/upstream-aad-pod-identity-tag")
[[ "$TAG" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build-upstream-binaries: scripts/upstream-aad-pod-identity-tag holds '$TAG', not a tag like v1.8.17" >&2; exit 1; }
command -v go >/dev/null || { echo "build-upstream-binaries: go is not installed (need Go >= 1.26)" >&2; exit 1; }

key=$( (go version; cat "$0"; echo "$TAG") | sha256sum | cut -c1-12)
cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}
out="$cache/upstream-binaries/aad-pod-identity-${TAG#v}-$key-linux-amd64"
if [ -x "$out/mic" ] && [ -x "$out/nmi" ]; then
  echo "cached: $out/mic $out/nmi" >&2
  echo "$out"; exit 0
fi
if $locate; then echo "build-upstream-binaries: aad-pod-identity $TAG is not built (no $out)" >&2; exit 3; fi
mkdir -p "$out"

work=$(mktemp -d "$cache/upstream-binaries/.wrap-XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
(
  cd "$work"
  go mod init upstream-wrap >/dev/null 2>&1
  go mod edit -require="$module@$TAG"
  cat >tools.go <<GO
//go:build tools

package tools

import (
	_ "$module/cmd/mic"
	_ "$module/cmd/nmi"
)
GO
  echo "resolving $module@$TAG..." >&2
  GOFLAGS="$GOFLAGS -mod=mod" go mod tidy
)
# Upstream's Makefile stamps these (its User-Agent is aad-pod-identity/<component>/<version>/<commit>/<date>);
# without them the binaries report an empty version. The commit is the tag: the module proxy has no git.
v="$module/version"
ld="-s -w -X $v.MICVersion=$TAG -X $v.NMIVersion=$TAG -X $v.GitCommit=$TAG -X $v.BuildDate=1970-01-01-00:00"
for name in "${names[@]}"; do
  echo "building $name..." >&2
  go -C "$work" build -trimpath -ldflags "$ld" -o "$out/$name.tmp" "$module/cmd/$name"
  mv "$out/$name.tmp" "$out/$name"
done
echo "built mic and nmi ($TAG) in $((SECONDS - start))s" >&2
echo "$out"
