export * from '../../src/devenv/binaries.ts';
