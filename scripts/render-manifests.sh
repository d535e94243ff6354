#!/usr/bin/env bash
# Renders deploy/pod-identity.yaml (everything but the CRDs, which are deploy/crds.yaml) from the Helm
# chart with its default values, for `kubectl apply` users. test/integration/chart/deploy.test.ts fails
# when the committed file differs from what the chart renders.
# Uses $HELM, else the helm that scripts/build-test-binaries.sh builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
helm=${HELM:-"$(bash "$root/scripts/build-test-binaries.sh" | tail -n 1)/helm"}
{
  echo "# pod-identity $(sed -n 's/^appVersion: *"\(.*\)"/\1/p' "$root/charts/pod-identity/Chart.yaml"): rendered from charts/pod-identity with default values"
  echo "# (scripts/render-manifests.sh). Apply deploy/crds.yaml first, then this file."
  "$helm" template pod-identity "$root/charts/pod-identity" --namespace kube-system --skip-crds
} > "$root/deploy/pod-identity.yaml"
echo "$root/deploy/pod-identity.yaml"
