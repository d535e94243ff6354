export * from '../../src/devenv/audit.ts';
