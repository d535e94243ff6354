export * from '../../src/devenv/aggregate.ts';
