import { describe, expect, it } from 'vitest';
import { boolFlag, enumFlag, intFlag, listFlag, parseFlags, renderFlagHelp, renderFlagMarkdown, stringFlag } from '../../../src/lib/go-flags.ts';

const TABLE = {
  name: stringFlag({ group: 'g', default: 'x', usage: 'A name.' }),
  on: boolFlag({ group: 'g', usage: 'A switch.' }),
  count: intFlag({ group: 'g', default: 1, min: 0, usage: 'A count.' }),
  mode: enumFlag({ group: 'h', default: 'a', values: ['a', 'b'], usage: 'Pipe | inside.', compatibility: 'changed' }),
  items: listFlag({ group: 'h', usage: 'Items.' }),
};
const GROUPS = [
  { key: 'g', title: 'First', compatibility: 'same' },
  { key: 'h', title: 'Second', compatibility: 'new' },
];

describe('parseFlags', () => {
  it('applies defaults and reports what was given', () => {
    const parsed = parseFlags(TABLE, ['-count', '3', '--on']);
    expect(parsed.values).toEqual({ name: 'x', on: true, count: 3, mode: 'a', items: [] });
    expect([...parsed.given]).toEqual(['count', 'on']);
    expect(parsed.problems).toEqual([]);
  });

  it('reports bad syntax, unknown flags and missing values, and keeps defaults for bad values', () => {
    const parsed = parseFlags(TABLE, ['---name', '-=x', '--other=1', '--count=-1', '--mode']);
    expect(parsed.problems).toEqual(['bad flag syntax: ---name', 'bad flag syntax: -=x', 'unknown flag --other', '--mode: needs a value (a|b)', '--count: "-1" is not valid: expected an integer ≥ 0']);
    expect(parsed.values.count).toBe(1);
  });

  it('does not look names up on the prototype', () => {
    expect(parseFlags(TABLE, ['--toString', '--constructor=1']).problems).toEqual(['unknown flag --toString', 'unknown flag --constructor']);
  });

  it('collects positionals and a lone dash', () => {
    expect(parseFlags(TABLE, ['a', '-', '--on', '--', '--name=y']).positionals).toEqual(['a', '-', '--name=y']);
  });

  it('splits lists on commas, trimming and dropping empty items', () => {
    expect(parseFlags(TABLE, ['--items= a, b,,c ,']).values.items).toEqual(['a', 'b', 'c']);
  });
});

describe('help and markdown', () => {
  it('renders Go-style help by group', () => {
    expect(renderFlagHelp(TABLE, GROUPS)).toBe(
      [
        'First:',
        '  --name STRING\n        A name. (default "x")',
        '  --on\n        A switch. (default false)',
        '  --count INT\n        A count. (default 1)',
        '',
        'Second:',
        '  --mode a|b\n        Pipe | inside. (default a)',
        '  --items LIST\n        Items. (default "")',
      ].join('\n'),
    );
  });

  it('renders markdown tables with escaped pipes and group fallbacks', () => {
    const markdown = renderFlagMarkdown(TABLE, GROUPS, 4);
    expect(markdown).toContain('#### Second');
    expect(markdown).toContain('| `--mode a\\|b` | `a` | Pipe \\| inside. | changed |');
    expect(markdown).toContain('| `--items LIST` | `""` | Items. | new |');
    expect(markdown).toContain('| `--on` | `false` | A switch. | same |');
  });
});
