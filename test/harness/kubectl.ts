export * from '../../src/devenv/kubectl.ts';
