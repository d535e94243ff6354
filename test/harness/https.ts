export * from '../../src/devenv/https.ts';
