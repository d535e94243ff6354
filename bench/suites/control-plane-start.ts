/**
 * How long the test control plane (etcd + kube-apiserver, certificates included) takes to become
 * ready, and to stop. Context for every integration and e2e timing, and for CI's budget.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { startControlPlane } from '../../src/devenv/control-plane.ts';
import { summarize } from '../lib/stats.ts';
import type { Suite } from '../lib/types.ts';

export const controlPlaneStart: Suite = {
  name: 'control-plane-start',
  description: 'etcd + kube-apiserver from process start to /readyz and namespace default; and stop',
  async run(context) {
    const runs = context.quick ? 3 : 10;
    const ready: number[] = [];
    const total: number[] = [];
    const stop: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      const plane = await startControlPlane();
      total.push(performance.now() - started);
      ready.push(plane.startupMs);
      const stopping = performance.now();
      await plane.stop();
      stop.push(performance.now() - stopping);
      context.log(`run ${run + 1}/${runs}: ready in ${plane.startupMs.toFixed(0)} ms`);
    }
    return {
      parameters: { runs },
      figures: [
        { name: 'processes to ready', unit: 'ms', summary: summarize(ready) },
        { name: 'including certificates', unit: 'ms', summary: summarize(total) },
        { name: 'stop', unit: 'ms', summary: summarize(stop) },
      ],
    };
  },
};
