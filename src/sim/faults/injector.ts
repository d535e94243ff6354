/**
 * The live set of fault rules of one simulator, shared by all its servers.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { consume, parseFaultRule, selectFault, type FaultRequest } from './match.ts';
import type { FaultRule, FaultRuleInput } from './types.ts';

export class FaultInjector {
  private readonly rules: FaultRule[] = [];

  /**
   * Adds a rule at the end (first matching rule wins), or replaces the rule with the same id in
   * place. Validates it like the admin API does; throws InvalidFaultRuleError.
   */
  add(input: FaultRuleInput): FaultRule {
    const checked = parseFaultRule(input);
    const rule: FaultRule = { ...checked, id: checked.id ?? randomUUID(), remaining: checked.times ?? null, hits: 0 };
    const existing = this.rules.findIndex((candidate) => candidate.id === rule.id);
    if (existing === -1) this.rules.push(rule);
    else this.rules[existing] = rule;
    return structuredClone(rule);
  }

  /** Copies of the rules in evaluation order (exhausted ones included, with `remaining: 0`). */
  list(): FaultRule[] {
    return structuredClone(this.rules);
  }

  remove(id: string): boolean {
    const index = this.rules.findIndex((rule) => rule.id === id);
    if (index === -1) return false;
    this.rules.splice(index, 1);
    return true;
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** The rule to apply to `request`, already counted; undefined when none matches. */
  take(request: FaultRequest): FaultRule | undefined {
    const rule = selectFault(this.rules, request);
    if (rule === undefined) return undefined;
    consume(rule);
    return structuredClone(rule);
  }
}
