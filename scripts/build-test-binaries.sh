#!/usr/bin/env bash
# Builds the real control-plane binaries used by the integration tests (kube-apiserver, kubectl,
# etcd, helm) from the Go tools modules under tools/, into a cache directory outside the repo keyed by
# the pinned versions, the go.sum contents and the Go version. A second run with the same key is a no-op.
#
# Prints the directory that holds the binaries (KUBEBUILDER_ASSETS layout) as its last line.
# Honours:
#   KUBEBUILDER_ASSETS        a directory that already holds kube-apiserver, etcd, kubectl (and maybe helm);
#                             when it is set and complete, nothing is built.
#   POD_IDENTITY_CACHE        cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] && [ -x "$KUBEBUILDER_ASSETS/kubectl" ]; then
  echo "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS" >&2
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi

command -v go >/dev/null || { echo "build-test-binaries: go is not installed (need Go >= 1.26)" >&2; exit 1; }
# The key covers everything that changes the output: Go, the modules, the versions and this script (ldflags).
key=$( (go version; cat "$root"/tools/*/go.mod "$root"/tools/*/go.sum "$0"; echo "$KUBE_VERSION $ETCD_VERSION $HELM_VERSION") | sha256sum | cut -c1-12)
cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}
out="$cache/kubebuilder-assets/${KUBE_VERSION#v}-etcd${ETCD_VERSION#v}-$key-linux-amd64"
mkdir -p "$out"

build() { # name dir pkg ldflags
  local name=$1 dir=$2 pkg=$3 ld=$4
  if [ -x "$out/$name" ]; then echo "cached: $out/$name" >&2; return; fi
  echo "building $name ($pkg)..." >&2
  local start=$SECONDS
  go -C "$root/tools/$dir" build -trimpath -ldflags "$ld" -o "$out/$name.tmp" "$pkg"
  mv "$out/$name.tmp" "$out/$name"
  echo "built $name in $((SECONDS - start))s" >&2
}

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kld="$kld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitCommit=none -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kld"
build kubectl kube-apiserver k8s.io/kubernetes/cmd/kubectl "$kld"
build helm helm helm.sh/helm/v3/cmd/helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
echo "$out"
