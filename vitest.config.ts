import { defineConfig } from 'vitest/config';

// Tiers (see docs/testing.md): unit tests are pure and fast; integration tests run against a real
// kube-apiserver + etcd (started once per run by the global setup) and the Azure simulator; e2e tests
// need root for network namespaces and iptables.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One shared control plane; files run one at a time on 2-core machines to keep timings sane.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'compat',
          // A few integration files again, on the kube-apiserver of the oldest Kubernetes minor AKS still
          // supports (scripts/build-compat-apiserver.sh; fails naming it when missing): the CRDs and their
          // CEL rules, a MIC world, Lease leader election. Plus what only this run checks (test/compat).
          include: [
            'test/compat/**/*.test.ts',
            'test/integration/crds.test.ts',
            'test/integration/crd-migration.test.ts',
            'test/integration/mic/assign.test.ts',
            'test/integration/kube-leader-election.test.ts',
          ],
          globalSetup: ['test/harness/compat-global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Needs root, ip, iptables, conntrack: the tests fail (never skip) with what is missing.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Namespaces, iptables and child processes: one file at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          // Real nodes (kubelet + containerd in network namespaces) running the chart's pods from the
          // images: needs root, the node binaries and the images, and fails (never skips) without them.
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
