#!/usr/bin/env bash
# Builds the MIC and NMI container images (Dockerfile.mic, Dockerfile.nmi), and the test client image
# (test/clients/Dockerfile: what user pods run on the real-node tier), with podman, without a Docker
# engine or an image registry (docs/images.md):
#   1. installs podman and debootstrap with apt when missing;
#   2. makes a local stand-in for docker.io/library/node:24-slim: a `debootstrap --variant=minbase`
#      Debian root filesystem plus the Node 24 binary of the repo's pinned npm package `node` and npm,
#      imported as $BASE_IMAGE. The root filesystem tarball is cached outside the repo, keyed by the
#      suite, the Node binary, the npm version and this script's base-image section, so a warm run skips
#      debootstrap;
#   3. `podman build --isolation chroot --build-arg BASE_IMAGE=…` of the Dockerfiles (podman's layer cache
#      makes a rebuild with unchanged inputs take seconds); the client image's context is test/clients, plus
#      the repository root as the named context `repo` for package-lock.json (its npm versions).
# Needs root. Prints the image names as its last three lines, ready for `eval`:
#   POD_IDENTITY_MIC_IMAGE=localhost/pod-identity-mic:<version>
#   POD_IDENTITY_NMI_IMAGE=localhost/pod-identity-nmi:<version>
#   POD_IDENTITY_CLIENT_IMAGE=localhost/pod-identity-client:<version>
# Honours:
#   BASE_IMAGE            base image to build on; when set (and not the default local one) it is used as is
#                         (e.g. docker.io/library/node:24-slim where a registry is reachable)
#   DEBIAN_MIRROR         debootstrap mirror (default http://deb.debian.org/debian)
#   POD_IDENTITY_CACHE    cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity)
#   IMAGE_TAG             tag of the built images (default: package.json version)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[build-images %4ss] %s\n' "$SECONDS" "$*" >&2; }

SUITE=bookworm
NPM_VERSION=11.6.2
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOCAL_BASE=localhost/node:24-slim
BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE}
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json" | head -n 1)
IMAGE_TAG=${IMAGE_TAG:-${version:-dev}}
MIC_IMAGE=localhost/pod-identity-mic:$IMAGE_TAG
NMI_IMAGE=localhost/pod-identity-nmi:$IMAGE_TAG
CLIENT_IMAGE=localhost/pod-identity-client:$IMAGE_TAG

[ "$(id -u)" = 0 ] || { echo "build-images: run as root (podman build --isolation chroot, debootstrap)" >&2; exit 1; }

# --- 1. tools -----------------------------------------------------------------------------------------
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- 2. base image ------------------------------------------------------------------------------------
if [ "$BASE_IMAGE" = "$LOCAL_BASE" ]; then
  node_bin="$root/node_modules/node/bin/node"
  [ -x "$node_bin" ] || { echo "build-images: $node_bin is missing: run npm ci first (the Node 24 binary comes from the npm package 'node')" >&2; exit 1; }
  node_version=$("$node_bin" --version)
  case "$node_version" in v24.*) ;; *) echo "build-images: $node_bin is $node_version, not Node 24" >&2; exit 1 ;; esac
  # The key covers this section of the script only: editing how the images are built (section 3) keeps the base.
  key=$( (echo "$SUITE $NPM_VERSION $node_version"; sha256sum <"$node_bin"; sed -n '/^# --- 2\. base image/,/^# --- 3\. images/p' "$0") | sha256sum | cut -c1-12)
  cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}/images
  tarball="$cache/node${node_version#v}-$SUITE-slim-$key.tar"
  mkdir -p "$cache"

  if [ "$(podman image inspect --format '{{index .Config.Labels "io.pod-identity.base-key"}}' "$LOCAL_BASE" 2>/dev/null)" = "$key" ]; then
    log "base image $LOCAL_BASE is current (key $key)"
  else
    if [ -s "$tarball" ]; then
      log "cached base root filesystem: $tarball"
    else
      log "building the base root filesystem (debootstrap --variant=minbase $SUITE, Node $node_version, npm $NPM_VERSION)"
      work=$(mktemp -d /var/tmp/pod-identity-base.XXXXXX)
      trap 'rm -rf "$work"' EXIT
      rootfs="$work/rootfs"
      debootstrap --variant=minbase "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
      # Like node:24-slim: node and npm under /usr/local, a `node` user with uid/gid 1000.
      install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
      npm install --global --prefix "$rootfs/usr/local" --no-audit --no-fund --loglevel=error "npm@$NPM_VERSION" >&2
      chroot "$rootfs" /usr/sbin/groupadd --gid 1000 node
      chroot "$rootfs" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
      cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
      # Nothing host-specific or stale in the image: no package lists, caches, logs, resolv.conf or hostname.
      rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
        "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.npm "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
      tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
      rm -rf "$work"
      trap - EXIT
      log "base root filesystem cached: $tarball ($(du -h "$tarball" | cut -f1))"
    fi
    podman import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV NODE_VERSION=${node_version#v}" \
      --change "LABEL io.pod-identity.base-key=$key" \
      --change 'CMD ["node"]' \
      "$tarball" "$LOCAL_BASE" >/dev/null
    log "imported $LOCAL_BASE (key $key)"
  fi
fi

# --- 3. images ----------------------------------------------------------------------------------------
# Egress through a TLS-intercepting proxy (NODE_EXTRA_CA_CERTS on the host): npm (and pip, for the client
# image) in the build stages needs that CA too. It is mounted read-only into RUN steps only and named by a build argument of the
# build stages; the final images hold neither.
ca_args=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ]; then
  ca_args=(--volume "$(readlink -f "$NODE_EXTRA_CA_CERTS"):/run/build-extra-ca.pem:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-extra-ca.pem)
fi
for pair in "mic:$MIC_IMAGE" "nmi:$NMI_IMAGE"; do
  component=${pair%%:*} image=${pair#*:}
  log "podman build -f Dockerfile.$component -t $image (BASE_IMAGE=$BASE_IMAGE)"
  started=$SECONDS
  podman build --isolation chroot --layers --build-arg "BASE_IMAGE=$BASE_IMAGE" "${ca_args[@]}" \
    -f "$root/Dockerfile.$component" -t "$image" "$root" >&2
  log "built $image in $((SECONDS - started))s ($(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
done

# The client image: a second build context, `repo` (the repository root), gives it package-lock.json, whose
# @azure/identity and @azure/arm-compute entries (and everything under them) it installs exactly; the
# Python packages are pinned in test/clients/python/requirements.txt. The CA goes to npm and pip alike.
log "podman build -f test/clients/Dockerfile -t $CLIENT_IMAGE (BASE_IMAGE=$BASE_IMAGE)"
started=$SECONDS
podman build --isolation chroot --layers --build-arg "BASE_IMAGE=$BASE_IMAGE" "${ca_args[@]}" \
  --build-context "repo=$root" -f "$root/test/clients/Dockerfile" -t "$CLIENT_IMAGE" "$root/test/clients" >&2
log "built $CLIENT_IMAGE in $((SECONDS - started))s ($(podman image inspect --format '{{.Size}}' "$CLIENT_IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'))"

echo "POD_IDENTITY_MIC_IMAGE=$MIC_IMAGE"
echo "POD_IDENTITY_NMI_IMAGE=$NMI_IMAGE"
echo "POD_IDENTITY_CLIENT_IMAGE=$CLIENT_IMAGE"
