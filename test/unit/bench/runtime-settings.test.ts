import { describe, expect, it } from 'vitest';
import { entrypointNodeFlags, finalStageEnv } from '../../../bench/lib/runtime-settings.ts';

describe('bench runtime settings from a Dockerfile', () => {
  it("takes the final stage's ENV, continued lines and quoted values", () => {
    const dockerfile = [
      'FROM node:24 AS build',
      'ENV NODE_OPTIONS="--build-only"',
      'RUN npm ci',
      'FROM gcr.io/distroless/nodejs24',
      '# NODE_OPTIONS="--commented-out"',
      'ENV NODE_ENV=production \\',
      '    NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=4" \\',
      '    MALLOC_ARENA_MAX=2',
      "ENV UV_THREADPOOL_SIZE='1'",
      'ENV LEGACY value with spaces',
      'ENTRYPOINT ["node", "/app/dist/src/nmi/main.js"]',
    ].join('\n');
    expect(finalStageEnv(dockerfile)).toEqual({
      NODE_ENV: 'production',
      NODE_OPTIONS: '--max-old-space-size=96 --max-semi-space-size=4',
      MALLOC_ARENA_MAX: '2',
      UV_THREADPOOL_SIZE: '1',
      LEGACY: 'value with spaces',
    });
  });

  it("takes the last ENTRYPOINT's node flags, the image's /app/dist paths moved to the bench's build", () => {
    const dockerfile = [
      'ENTRYPOINT ["node", "/app/old.js"]',
      'FROM base',
      'ENTRYPOINT ["node", "--optimize-for-size", \\',
      '  "--import=/app/dist/nmi/compile-cache.js", "/app/dist/nmi/main.js"]',
    ].join('\n');
    expect(entrypointNodeFlags(dockerfile, '/b/1')).toEqual(['--optimize-for-size', '--import=/b/1/nmi/compile-cache.js']);
    expect(() => entrypointNodeFlags('ENTRYPOINT ["/bin/sh"]', '/b')).toThrow(/ENTRYPOINT/);
  });

  it('reads the repository Dockerfiles as they are', async () => {
    const { imageRuntime } = await import('../../../bench/lib/runtime-settings.ts');
    for (const component of ['mic', 'nmi'] as const) {
      const settings = imageRuntime(component);
      expect(settings.env['NODE_OPTIONS']).toMatch(/--/);
      expect(settings.source).toMatch(new RegExp(`Dockerfile\\.${component}$`));
    }
    const { imageNodeFlags } = await import('../../../bench/lib/runtime-settings.ts');
    expect(imageNodeFlags('nmi', '/b')).toContain('--import=/b/nmi/compile-cache.js');
  });
});
