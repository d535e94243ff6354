export * from '../../src/devenv/ports.ts';
