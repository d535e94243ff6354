export * from '../../src/devenv/process.ts';
