import { describe, expect, it } from 'vitest';
import { parseAzureSimArgs } from '../../../src/cli/azure-sim.ts';
import { UsageError, type CommandIo } from '../../../src/cli/command.ts';
import { parseSandboxArgs } from '../../../src/cli/sandbox/command.ts';
import { parseCommandFlags, throwUsageProblems } from '../../../src/cli/shared/flags.ts';
import { dispatch } from '../../../src/cli/shared/subcommands.ts';
import { boolFlag, optionalStringFlag } from '../../../src/lib/go-flags.ts';

const TABLE = {
  item: optionalStringFlag({ group: 'g', usage: 'an item', defaultText: 'none' }),
  all: boolFlag({ group: 'g', usage: 'everything' }),
};

function capture(): { io: CommandIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (text: string) => (out += text) }, stderr: { write: (text: string) => (err += text) }, shutdown: new AbortController().signal },
    out: () => out,
    err: () => err,
  };
}

describe('the CLI flag parser (Go flag syntax)', () => {
  it('refuses stray arguments unless the command takes them', () => {
    expect(parseCommandFlags(TABLE, ['--all', 'a', 'b']).problems).toEqual(['unexpected arguments: a b']);
    expect(parseCommandFlags(TABLE, ['--all', 'a'], { positionals: true })).toMatchObject({ problems: [], positionals: ['a'] });
  });

  it('keeps every occurrence of a flag, in order, and the last as its value', () => {
    const parsed = parseCommandFlags(TABLE, ['--item', 'x', '-item=y', '--all=false']);
    expect(parsed.occurrences.get('item')).toEqual(['x', 'y']);
    expect(parsed.values).toEqual({ item: 'y', all: false });
  });

  it('turns problems into one usage error', () => {
    expect(() => { throwUsageProblems([]); }).not.toThrow();
    expect(() => { throwUsageProblems(['a', 'b']); }).toThrow(new UsageError('a; b'));
    expect(() => { throwUsageProblems(['a', 'b'], '\n  '); }).toThrow(new UsageError('a\n  b'));
  });

  it('parses the sandbox flags, refusing unknown ones and arguments', () => {
    expect(parseSandboxArgs(['--once', '--json', '-keep-dir'])).toEqual({ help: false, once: true, json: true, namespaces: false, rootless: false, keepDir: true });
    expect(parseSandboxArgs(['-h']).help).toBe(true);
    expect(() => parseSandboxArgs(['--bogus', 'extra'])).toThrow(new UsageError('unknown flag --bogus; unexpected arguments: extra'));
  });

  it('parses azure-sim flags, repeatable ones included', () => {
    const config = parseAzureSimArgs(['--imds', 'vm-a', '--imds=vm-b=127.0.0.2:8080', '--lro-retry-after', '2', '--lro-retry-after', 'vmUpdate=5', '--no-imds-limits']);
    expect(config.imds).toEqual([{ node: 'vm-a' }, { node: 'vm-b', host: '127.0.0.2', port: 8080 }]);
    expect(config.lroRetryAfterSeconds).toEqual({ vmUpdate: 5, vmssUpdate: 2, vmDelete: 2, vmssDelete: 2 });
    expect(config).toMatchObject({ host: '127.0.0.1', logLevel: 'info', imdsLimits: false, saveState: false, help: false, oidcCaFiles: [] });
    expect(parseAzureSimArgs(['--oidc-ca-file', 'a.pem', '--oidc-ca-file=b.pem']).oidcCaFiles).toEqual(['a.pem', 'b.pem']);
    expect(() => parseAzureSimArgs(['--imds', 'a', '--imds', 'A'])).toThrow(/--imds A given twice/);
    expect(() => parseAzureSimArgs(['--bogus', '--arm-port', 'x'])).toThrow(/unknown flag --bogus; --arm-port must be an integer/);
  });
});

describe('(sub)command dispatch', () => {
  const entries = { run: { run: (argv: readonly string[]) => Promise.resolve(argv.length) } };
  const options = { prefix: 'pod-identity thing', noun: 'subcommand', help: 'HELP\n', entries };

  it('runs the named entry with the remaining arguments', async () => {
    expect(await dispatch(['run', 'a', 'b'], capture().io, options)).toBe(2);
  });

  it('prints help on stdout when asked, on stderr when nothing is named', async () => {
    const asked = capture();
    expect(await dispatch(['--help'], asked.io, options)).toBe(0);
    expect(asked.out()).toBe('HELP\n');
    const none = capture();
    expect(await dispatch([], none.io, options)).toBe(2);
    expect(none.err()).toBe('HELP\n');
  });

  it('names an unknown entry (also one named like an Object property)', async () => {
    for (const name of ['walk', 'constructor']) {
      const unknown = capture();
      expect(await dispatch([name], unknown.io, options)).toBe(2);
      expect(unknown.err()).toBe(`pod-identity thing: unknown subcommand "${name}"\n\nHELP\n`);
    }
  });
});
