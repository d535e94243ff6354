export * from '../../src/devenv/identities.ts';
