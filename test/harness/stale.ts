export * from '../../src/devenv/stale.ts';
