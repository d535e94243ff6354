export * from '../../src/devenv/exec.ts';
