import { afterEach, describe, expect, it } from 'vitest';
import { buildHealthApp, micHealthServer, micMetricsServer, type MicHealth } from '../../../src/mic/health-server.ts';
import { buildMetricsApp } from '../../../src/lib/metrics-app.ts';
import { MicMetrics } from '../../../src/mic/metrics.ts';

function health(state: { active: boolean; ready: boolean }): MicHealth {
  return { isActive: () => state.active, isReady: () => state.ready };
}

describe('health app (inject)', () => {
  it('answers /healthz 200 "Not Active" until active, then "Active" (upstream semantics)', async () => {
    const state = { active: false, ready: false };
    const app = buildHealthApp(health(state));
    const before = await app.inject({ method: 'GET', url: '/healthz' });
    expect(before.statusCode).toBe(200);
    expect(before.body).toBe('Not Active');
    expect(before.headers['content-type']).toBe('text/plain; charset=utf-8');
    state.active = true;
    const after = await app.inject({ method: 'GET', url: '/healthz' });
    expect(after.statusCode).toBe(200);
    expect(after.body).toBe('Active');
    await app.close();
  });

  it('answers /readyz 503 until ready, then 200', async () => {
    const state = { active: false, ready: false };
    const app = buildHealthApp(health(state));
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    state.ready = true;
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.body).toBe('ok');
    await app.close();
  });

  it('answers /livez 200 and HEAD like GET', async () => {
    const app = buildHealthApp(health({ active: false, ready: false }));
    expect((await app.inject({ method: 'GET', url: '/livez' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'HEAD', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    await app.close();
  });
});

describe('metrics app (inject)', () => {
  it('serves the registry with its content type', async () => {
    const metrics = new MicMetrics({ processMetrics: false });
    metrics.setLeader(true);
    const app = buildMetricsApp(metrics);
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(metrics.contentType);
    expect(response.body).toContain('aadpodidentity_mic_is_leader 1');
    await app.close();
  });
});

describe('health and metrics servers on real sockets', () => {
  const stop = new AbortController();
  afterEach(() => {
    stop.abort();
  });

  it('listen on 127.0.0.1:0, serve, and close when the signal aborts', async () => {
    const probes = micHealthServer({ address: { host: '127.0.0.1', port: 0 }, health: health({ active: true, ready: true }) });
    const scrape = micMetricsServer({ address: { host: '127.0.0.1', port: 0 }, metrics: new MicMetrics({ processMetrics: false }) });
    expect(probes.needsLeader).toBe(false);
    const runs = [probes.run(stop.signal), scrape.run(stop.signal)];
    const [probeAddress, metricsAddress] = await Promise.all([probes.listening(), scrape.listening()]);
    expect(probeAddress.host).toBe('127.0.0.1');
    expect(probeAddress.port).toBeGreaterThan(0);
    expect(probes.address).toEqual(probeAddress);

    const healthz = await fetch(`${probeAddress.url}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.text()).toBe('Active');
    const scraped = await fetch(`${metricsAddress.url}/metrics`);
    expect(await scraped.text()).toContain('aadpodidentity_mic_cycle_count 0');

    stop.abort();
    await Promise.all(runs);
    await expect(fetch(`${probeAddress.url}/healthz`)).rejects.toThrow();
  });
});
