/**
 * Printing a {@link DoctorReport}: text for people (one line per step, details indented, the first
 * failure marked) and JSON for tools (the report as is).
 * @module
 */
import type { DoctorReport, StepStatus } from './model.ts';

const MARK: Readonly<Record<StepStatus, string>> = { ok: '[ok]     ', fail: '[FAIL]   ', warn: '[warn]   ', skip: '[skip]   ', unknown: '[unknown]' };

const indent = (text: string, prefix: string): string =>
  text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');

export function renderText(report: DoctorReport): string {
  const out: string[] = [];
  const { pod } = report;
  out.push(`pod-identity doctor: pod ${pod.namespace}/${pod.name}${pod.node === '' ? ' (not scheduled)' : ` on node ${pod.node}`}`);
  out.push(`namespaced mode: ${report.mode.forceNamespaced ? 'on' : 'off'} (${report.mode.detail})`);
  out.push('');
  for (const [index, step] of report.steps.entries()) {
    const first = step.id === report.firstFailure ? '  <== first failure' : '';
    out.push(`${String(index + 1).padStart(2)}. ${MARK[step.status]} ${step.title}${first}`);
    if (step.detail !== '') out.push(indent(step.detail, '                '));
    if (step.fix !== undefined) out.push(indent(step.fix, '                fix: ').replace(/\n {16}fix: /g, '\n                     '));
  }
  out.push('');
  const failed = report.steps.find((step) => step.id === report.firstFailure);
  out.push(
    failed === undefined
      ? `Result: OK — pod ${pod.namespace}/${pod.name} should get a token.`
      : `Result: FAIL — first failure: ${failed.title}.${failed.fix === undefined ? '' : ` Fix: ${failed.fix.split('\n')[0] ?? ''}`}`,
  );
  return `${out.join('\n')}\n`;
}

export function renderJson(report: DoctorReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
