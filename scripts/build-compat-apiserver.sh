#!/usr/bin/env bash
# Builds the kube-apiserver of the oldest Kubernetes minor that AKS still supports (the compat test run,
# vitest project `compat`) from the Go module test/peers/kube-apiserver-compat, the way
# scripts/build-test-binaries.sh builds the main one (committed go.mod + go.sum, GOTOOLCHAIN=local,
# CGO_ENABLED=0, the same version ldflags). Only kube-apiserver: the compat run reuses the main build's
# etcd, kubectl and helm (kubectl 1.36 is within the supported skew of one minor).
# Cached outside the repo, keyed by Go, the module's go.mod/go.sum and this script; a second run is a no-op.
#
# Prints the directory holding `kube-apiserver` as its last line.
# `--locate` builds nothing: it prints the directory when the binary is there, else exits 3
# (src/devenv/binaries.ts uses it, so the cache key is computed in one place).
# Honours:
#   POD_IDENTITY_COMPAT_APISERVER  a directory that already holds that kube-apiserver: nothing is built
#   POD_IDENTITY_CACHE             cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
module_dir="$root/test/peers/kube-apiserver-compat"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
locate=false
case "${1:-}" in
  --locate) locate=true ;;
  "") ;;
  *) echo "usage: build-compat-apiserver.sh [--locate]" >&2; exit 2 ;;
esac

if [ -n "${POD_IDENTITY_COMPAT_APISERVER:-}" ]; then
  [ -x "$POD_IDENTITY_COMPAT_APISERVER/kube-apiserver" ] || { echo "build-compat-apiserver: POD_IDENTITY_COMPAT_APISERVER=$POD_IDENTITY_COMPAT_APISERVER has no kube-apiserver" >&2; exit 1; }
  echo "using POD_IDENTITY_COMPAT_APISERVER=$POD_IDENTITY_COMPAT_APISERVER" >&2
  echo "$POD_IDENTITY_COMPAT_APISERVER"; exit 0
fi

# The one place the version is written: the module's requirement (src/devenv/binaries.ts reads it too).
KUBE_VERSION=$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9][^ ]*\).*/\1/p' "$module_dir/go.mod")
[[ "$KUBE_VERSION" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "build-compat-apiserver: no k8s.io/kubernetes v1.X.Y requirement in $module_dir/go.mod" >&2; exit 1; }
command -v go >/dev/null || { echo "build-compat-apiserver: go is not installed (need Go >= 1.26)" >&2; exit 1; }

key=$( (go version; cat "$module_dir/go.mod" "$module_dir/go.sum" "$0") | sha256sum | cut -c1-12)
cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}
out="$cache/compat-apiserver/${KUBE_VERSION#v}-$key-linux-amd64"
if [ -x "$out/kube-apiserver" ]; then
  echo "cached: $out/kube-apiserver" >&2
  echo "$out"; exit 0
fi
if $locate; then echo "build-compat-apiserver: kube-apiserver $KUBE_VERSION is not built (no $out/kube-apiserver)" >&2; exit 3; fi
mkdir -p "$out"

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitCommit=none -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
echo "building kube-apiserver $KUBE_VERSION (k8s.io/kubernetes/cmd/kube-apiserver)..." >&2
start=$SECONDS
go -C "$module_dir" build -trimpath -ldflags "$ld" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
echo "built kube-apiserver $KUBE_VERSION in $((SECONDS - start))s" >&2
echo "$out"
