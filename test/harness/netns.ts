export * from '../../src/devenv/netns.ts';
