/**
 * A Prometheus histogram for a hot path, registered in a prom-client Registry and exposed exactly as a
 * prom-client Histogram with the same name, help, label names and buckets would be. prom-client's
 * `observe` validates and hashes the labels and stores into an object keyed by the bucket bound (a
 * number turned into a string) on every call: ~4 µs of NMI's CPU per cached token under load. Here a
 * label set seen before costs a few Map lookups by the label values themselves (nested, so no key is
 * built) and a counter increment; label sets are created on first use and never dropped, so label
 * values must be bounded (as prom-client's would have to be too).
 * @module
 */
import type { Registry } from 'prom-client';

/** One label set's counts: per bucket (not cumulative), and the sum and count of observations. */
interface Cell {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** One value of prom-client's `MetricObjectWithValues` (the shape its Registry formats). */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
  /** prom-client's buckets carry one (null without exemplars); JSON consumers see the same shape. */
  readonly exemplar?: null;
}

export interface LabelledHistogramOptions<Names extends string> {
  readonly name: string;
  readonly help: string;
  /** In the order their values are passed to {@link LabelledHistogram.observe}. */
  readonly labelNames: readonly Names[];
  /** Upper bounds, increasing; `+Inf` is implied. */
  readonly buckets: readonly number[];
  readonly registers: readonly Registry[];
}

type Tree = Map<string, Tree | Cell>;

export class LabelledHistogram<Names extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly labelNames: readonly Names[];
  private readonly upperBounds: readonly number[];
  private readonly root: Tree = new Map();
  /** Cells in order of first use: the order prom-client lists label sets in. */
  private readonly cells: Cell[] = [];

  constructor(options: LabelledHistogramOptions<Names>) {
    if (options.labelNames.length === 0) throw new Error(`histogram ${options.name}: at least one label name`);
    for (let index = 1; index < options.buckets.length; index++) {
      if ((options.buckets[index] ?? Number.NaN) <= (options.buckets[index - 1] ?? Number.NaN)) throw new Error(`histogram ${options.name}: buckets must increase`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.upperBounds = options.buckets;
    for (const registry of options.registers) registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** One observation for the label values `values` (one per label name, in order). */
  observe(values: readonly string[], value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`histogram ${this.name}: not a finite number: ${String(value)}`);
    if (values.length !== this.labelNames.length) throw new Error(`histogram ${this.name}: ${String(this.labelNames.length)} label values expected, got ${String(values.length)}`);
    const cell = this.cellOf(values);
    const bounds = this.upperBounds;
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] ?? Number.POSITIVE_INFINITY)) bucket++;
    cell.counts[bucket] = (cell.counts[bucket] ?? 0) + 1;
    cell.sum += value;
    cell.count++;
  }

  /** What prom-client's Histogram `get()` gives: per label set, cumulative buckets, `+Inf`, sum, count. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const cell of this.cells) {
      let cumulative = 0;
      for (let bucket = 0; bucket < this.upperBounds.length; bucket++) {
        cumulative += cell.counts[bucket] ?? 0;
        values.push({ labels: { le: this.upperBounds[bucket] ?? Number.NaN, ...cell.labels }, value: cumulative, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: bucketName, exemplar: null });
      values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...cell.labels }, value: cell.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values });
  }

  /** Forgets every observation (Registry.resetMetrics). */
  reset(): void {
    this.root.clear();
    this.cells.length = 0;
  }

  private cellOf(values: readonly string[]): Cell {
    let tree = this.root;
    const last = values.length - 1;
    for (let index = 0; index < last; index++) {
      const key = values[index] ?? '';
      let next = tree.get(key) as Tree | undefined;
      if (next === undefined) {
        next = new Map();
        tree.set(key, next);
      }
      tree = next;
    }
    const key = values[last] ?? '';
    let cell = tree.get(key) as Cell | undefined;
    if (cell === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((labelName, index) => {
        labels[labelName] = values[index] ?? '';
      });
      cell = { labels, counts: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
      tree.set(key, cell);
      this.cells.push(cell);
    }
    return cell;
  }
}
