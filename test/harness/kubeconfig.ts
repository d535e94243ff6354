export * from '../../src/devenv/kubeconfig.ts';
