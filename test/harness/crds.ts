export * from '../../src/devenv/crds.ts';
