#!/usr/bin/env bash
# Builds the real-node tier's Kubernetes binaries (kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy) from the Go tools module tools/kube-node, and the pod sandbox's `pause` (tools/pause, no
# dependencies; registry.k8s.io/pause cannot be pulled here): the same k8s.io/kubernetes version and replace
# lines as the kube-apiserver of scripts/build-test-binaries.sh (whose KUBE_VERSION is read from there,
# so the two never drift). Cached outside the repo, keyed by Go, the module files, the version and this
# script; a second run with the same key is a no-op (~91 s of build on a warm module cache otherwise).
#
# Prints the directory holding the binaries as its last line.
# Honours:
#   POD_IDENTITY_NODE_BINARIES  a directory that already holds the five binaries: nothing is built
#   POD_IDENTITY_CACHE          cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
names=(kubelet kube-controller-manager kube-scheduler kube-proxy pause)

if [ -n "${POD_IDENTITY_NODE_BINARIES:-}" ]; then
  for name in "${names[@]}"; do
    [ -x "$POD_IDENTITY_NODE_BINARIES/$name" ] || { echo "build-node-binaries: POD_IDENTITY_NODE_BINARIES=$POD_IDENTITY_NODE_BINARIES has no $name" >&2; exit 1; }
  done
  echo "using POD_IDENTITY_NODE_BINARIES=$POD_IDENTITY_NODE_BINARIES" >&2
  echo "$POD_IDENTITY_NODE_BINARIES"; exit 0
fi

KUBE_VERSION=$(sed -n 's/^KUBE_VERSION=//p' "$root/scripts/build-test-binaries.sh")
[ -n "$KUBE_VERSION" ] || { echo "build-node-binaries: no KUBE_VERSION in scripts/build-test-binaries.sh" >&2; exit 1; }
grep -q "k8s.io/kubernetes $KUBE_VERSION" "$root/tools/kube-node/go.mod" \
  || { echo "build-node-binaries: tools/kube-node/go.mod does not require k8s.io/kubernetes $KUBE_VERSION" >&2; exit 1; }
command -v go >/dev/null || { echo "build-node-binaries: go is not installed (need Go >= 1.26)" >&2; exit 1; }

key=$( (go version; cat "$root/tools/kube-node/go.mod" "$root/tools/kube-node/go.sum" "$root/tools/pause/go.mod" "$root/tools/pause/main.go" "$0"; echo "$KUBE_VERSION") | sha256sum | cut -c1-12)
cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}
out="$cache/node-binaries/${KUBE_VERSION#v}-$key-linux-amd64"
mkdir -p "$out"

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitCommit=none -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
for name in "${names[@]}"; do
  if [ -x "$out/$name" ]; then echo "cached: $out/$name" >&2; continue; fi
  echo "building $name..." >&2
  start=$SECONDS
  if [ "$name" = pause ]; then
    go -C "$root/tools/pause" build -trimpath -ldflags "-s -w" -o "$out/$name.tmp" .
  else
    go -C "$root/tools/kube-node" build -trimpath -ldflags "$ld" -o "$out/$name.tmp" "k8s.io/kubernetes/cmd/$name"
  fi
  mv "$out/$name.tmp" "$out/$name"
  echo "built $name in $((SECONDS - start))s" >&2
done
echo "$out"
