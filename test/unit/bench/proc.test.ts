import { describe, expect, it } from 'vitest';
import { parseCpuSeconds, parseRssMb, parseSmapsRollup } from '../../../bench/lib/proc.ts';

const ROLLUP = `55d4c6a4b000-7ffd8e5f1000 ---p 00000000 00:00 0                          [rollup]
Rss:              102400 kB
Pss:               81920 kB
Pss_Anon:          61440 kB
Pss_File:          20480 kB
Pss_Shmem:             0 kB
Shared_Clean:      40960 kB
Shared_Dirty:          0 kB
Private_Clean:     10240 kB
Private_Dirty:     51200 kB
Referenced:       102400 kB
Anonymous:         61440 kB
LazyFree:              0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
`;

describe('bench /proc parsers', () => {
  it('splits smaps_rollup into anonymous and file-backed, shared and private (MB)', () => {
    expect(parseSmapsRollup(ROLLUP)).toEqual({ rssMb: 100, pssMb: 80, anonymousMb: 60, fileMb: 40, sharedMb: 40, privateMb: 60, swapMb: 0 });
  });

  it('counts a missing key as 0', () => {
    expect(parseSmapsRollup('Rss: 2048 kB\n').anonymousMb).toBe(0);
    expect(parseSmapsRollup('Rss: 2048 kB\n').fileMb).toBe(2);
  });

  it('reads VmRSS in MB', () => {
    expect(parseRssMb('Name:\tnode\nVmRSS:\t   51200 kB\nVmSwap:\t0 kB\n')).toBe(50);
    expect(parseRssMb('Name:\tnode\n')).toBeNaN();
  });

  it('reads user + system CPU seconds after a command name with spaces and parentheses', () => {
    const fields = ['S', ...Array.from({ length: 10 }, () => '0'), '150', '50', ...Array.from({ length: 30 }, () => '0')];
    expect(parseCpuSeconds(`1234 (node (x) y) ${fields.join(' ')}`)).toBe(2);
  });
});
