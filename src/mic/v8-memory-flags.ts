/**
 * V8 favours memory over speed in MIC: `--optimize-for-size` (smaller heap growth steps, more
 * eager compaction and memory reduction). NODE_OPTIONS refuses this flag, so the process sets it
 * itself, first thing, and the image, the chart, the tests and the benchmarks all run with it.
 * Measured after the 1,000-pod wave (Node 24, the image's NODE_OPTIONS): V8 heap 42 → 30 MB
 * committed, RSS 118 → 105 MB, wave time unchanged (13–15 s on a shared machine).
 * @module
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--optimize-for-size');
