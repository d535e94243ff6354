import { describe, expect, it } from 'vitest';
import { summarizeSnapshot } from '../../../bench/lib/heap-snapshot.ts';

const MB = 2 ** 20;

describe('bench heap snapshot summary', () => {
  it('sums self sizes by type and by constructor; strings and code only by type', () => {
    const types = ['hidden', 'array', 'string', 'object', 'code', 'closure'];
    const strings = ['', 'Map', 'secret string contents', 'Pod', '(compiled code)'];
    // node_fields: type, name, id, self_size, edge_count
    const nodes = [
      3, 1, 1, 2 * MB, 0,
      3, 1, 3, 1 * MB, 0,
      3, 3, 5, 1 * MB, 0,
      2, 2, 7, 4 * MB, 0,
      4, 4, 9, 0.5 * MB, 0,
    ];
    const summary = summarizeSnapshot({ snapshot: { meta: { node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'], node_types: [types] } }, nodes, strings });
    expect(summary.totalMb).toBe(8.5);
    expect(summary.byType).toEqual({ string: 4, object: 4, code: 0.5 });
    expect(summary.top).toEqual([
      { group: 'string', mb: 4, count: 1 },
      { group: 'object:Map', mb: 3, count: 2 },
      { group: 'object:Pod', mb: 1, count: 1 },
      { group: 'code', mb: 0.5, count: 1 },
    ]);
  });
});
