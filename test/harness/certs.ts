export * from '../../src/devenv/certs.ts';
