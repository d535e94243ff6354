/**
 * The reliability and security suites (test/reliability, issue 8) at full scale. Each suite's counts
 * become figures: breaches against TARGETS.md's "0", attempts/successes/faults/recoveries as counts,
 * time to recover as a summary. `BENCH_RELIABILITY_SUITES=adversarial,soak` selects suites.
 * @module
 */
import { countLine, recordCounts, type SuiteCounts } from '../../test/reliability/counts.ts';
import { RELIABILITY_SCENARIOS } from '../../test/reliability/index.ts';
import { summarize } from '../lib/stats.ts';
import type { Figure, Suite, SuiteContext, SuiteResult } from '../lib/types.ts';

const single = (value: number): ReturnType<typeof summarize> => summarize([value]);

/** The figures of one suite's counts. */
export function countsFigures(counts: SuiteCounts): Figure[] {
  const notes = countLine(counts);
  const figures: Figure[] = [
    {
      name: `${counts.suite}: breaches`,
      unit: 'count',
      summary: single(counts.breaches),
      target: { kind: 'max', value: 0, statistic: 'max', source: 'TARGETS.md: reliability and security' },
      notes: counts.breachDetails.length > 0 ? `${notes}; first: ${counts.breachDetails.slice(0, 3).join('; ')}` : notes,
    },
    { name: `${counts.suite}: attempts`, unit: 'count', summary: single(counts.attempts) },
    { name: `${counts.suite}: successes`, unit: 'count', summary: single(counts.successes) },
  ];
  if (counts.faults > 0) {
    figures.push({ name: `${counts.suite}: faults injected / recovered`, unit: 'count', summary: single(counts.recoveries), notes: `${counts.recoveries} of ${counts.faults} recovered` });
  }
  if (counts.recoverMs.length > 0) figures.push({ name: `${counts.suite}: time to recover`, unit: 'ms', summary: summarize(counts.recoverMs) });
  return figures;
}

export const reliabilitySuite: Suite = {
  name: 'reliability',
  description: 'adversarial pods, fail-closed, MIC faults, NMI fuzzing, secrets in logs, soak (full scale; counts)',
  async run(context: SuiteContext): Promise<SuiteResult> {
    const wanted = process.env['BENCH_RELIABILITY_SUITES']?.split(',').map((name) => name.trim());
    const unknown = wanted?.filter((name) => !RELIABILITY_SCENARIOS.some((scenario) => scenario.name === name)) ?? [];
    if (unknown.length > 0) throw new Error(`unknown reliability suite(s): ${unknown.join(', ')}; known: ${RELIABILITY_SCENARIOS.map((scenario) => scenario.name).join(', ')}`);
    const scale = context.quick ? 'ci' : 'full';
    const figures: Figure[] = [];
    // A suite that cannot finish is a figure that misses its target, so the others' results still land.
    const didNotFinish = (name: string, why: string): void => {
      figures.push({ name: `${name}: did not finish`, unit: 'count', summary: single(1), target: { kind: 'max', value: 0, statistic: 'max', source: 'every suite runs to the end' }, notes: why });
    };
    for (const scenario of RELIABILITY_SCENARIOS.filter((candidate) => wanted === undefined || wanted.includes(candidate.name))) {
      if (scenario.needsRoot && process.getuid?.() !== 0) {
        didNotFinish(scenario.name, 'needs root');
        continue;
      }
      context.log(`-- ${scenario.name}: ${scenario.description}`);
      try {
        const log = (message: string): void => { context.log(message); };
        const counts = await scenario.run({ scale, log });
        recordCounts(counts, log);
        figures.push(...countsFigures(counts));
      } catch (error) {
        const why = error instanceof Error ? (error.stack ?? error.message) : String(error);
        context.log(`${scenario.name} failed: ${why}`);
        didNotFinish(scenario.name, why.split('\n')[0] ?? why);
      }
    }
    return { parameters: { scale, suites: figures.length === 0 ? 'none' : RELIABILITY_SCENARIOS.map((scenario) => scenario.name).join(',') }, figures };
  },
};
