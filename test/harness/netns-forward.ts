export * from '../../src/devenv/netns-forward.ts';
