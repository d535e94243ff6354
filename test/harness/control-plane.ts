export * from '../../src/devenv/control-plane.ts';
