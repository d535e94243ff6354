/**
 * MIC's entry point: the process set up first (./process-setup.ts), then MIC itself (./run.ts), loaded
 * only after that.
 * @module
 */
import './process-setup.ts';

if (import.meta.main) {
  const { micMain } = await import('./run.ts');
  process.exitCode = await micMain();
}
