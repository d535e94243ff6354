import { describe, expect, it } from 'vitest';
import { GroupIndex } from '../../../../src/nmi/identity/node-view.ts';

interface Item {
  readonly group: string;
  readonly name: string;
  readonly version: number;
}

const item = (group: string, name: string, version = 1): Item => ({ group, name, version });
const index = (): GroupIndex<Item> => new GroupIndex<Item>((entry) => entry.group, (entry) => entry.name);

describe('GroupIndex (the node view’s AAIs by pod, bindings, identities and exceptions by namespace)', () => {
  it('hands out one frozen array per group until that group changes, and a new one after', () => {
    const groups = index();
    groups.apply('add', item('a', 'x'), undefined);
    groups.apply('add', item('b', 'y'), undefined);
    const first = groups.get('a');
    expect(first).toEqual([item('a', 'x')]);
    expect(Object.isFrozen(first)).toBe(true);
    expect(groups.get('a')).toBe(first);
    groups.apply('add', item('b', 'z'), undefined);
    expect(groups.get('a')).toBe(first);
    groups.apply('update', item('a', 'x', 2), item('a', 'x'));
    expect(groups.get('a')).not.toBe(first);
    expect(groups.get('a')).toEqual([item('a', 'x', 2)]);
  });

  it('moves an object between groups on update, and forgets a group when its last object goes', () => {
    const groups = index();
    groups.apply('add', item('a', 'x'), undefined);
    const before = groups.get('a');
    groups.apply('update', item('b', 'x'), item('a', 'x'));
    expect(before).toEqual([item('a', 'x')]);
    expect(groups.get('a')).toEqual([]);
    expect(groups.get('b')).toEqual([item('b', 'x')]);
    groups.apply('delete', item('b', 'x'), undefined);
    expect(groups.get('b')).toEqual([]);
    expect(groups.get('never-seen')).toBe(groups.get('b'));
  });
});
