import { describe, expect, it } from 'vitest';
import type { Level } from 'pino';
import { batchedWrites, createLogger, formatTextLine, isoTimeOncePerMs, REDACTED, REDACTED_KEYS, redactLine, type LogFormat } from '../../../src/lib/logger.ts';

function capture(format: LogFormat, level: Level | 'silent' = 'trace'): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    format,
    level,
    component: 'mic',
    destination: {
      write(chunk: string) {
        lines.push(...chunk.split('\n').filter((line) => line !== ''));
      },
    },
  });
  return { logger, lines };
}

const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const FORMATS: readonly LogFormat[] = ['json', 'text'];

/** An object with every redacted key at depths 0 to 6, each with a unique secret value. */
function secrets(): { record: Record<string, unknown>; values: string[] } {
  const values: string[] = [];
  const record: Record<string, unknown> = {};
  for (const key of REDACTED_KEYS) {
    let node = record;
    for (let depth = 0; depth <= 6; depth++) {
      const value = `s3cret-${key}-${depth}`;
      values.push(value);
      node[key] = value;
      const child: Record<string, unknown> = {};
      node[`level${depth}`] = child;
      node = child;
    }
  }
  return { record, values };
}

describe('createLogger redaction', () => {
  for (const format of FORMATS) {
    it(`hides every credential field at every level and depth (${format})`, () => {
      const { logger, lines } = capture(format);
      const { record, values } = secrets();
      for (const level of LEVELS) logger[level](record, `${level} record`);
      expect(lines).toHaveLength(LEVELS.length);
      const output = lines.join('\n');
      for (const value of values) expect(output).not.toContain(value);
      expect(output).toContain(REDACTED);
      expect(output).toContain('trace record');
    });

    it(`hides credentials in common nested shapes, arrays, errors and child bindings (${format})`, () => {
      const { logger, lines } = capture(format);
      const error = Object.assign(new Error('ARM said no'), { request: { headers: { authorization: 'Bearer eyJ-error-header' } } });
      logger.info({ req: { headers: { authorization: 'Bearer eyJ-request' } } }, 'request');
      logger.info({ response: { body: { access_token: 'eyJ-body', refresh_token: 'r-body' } } }, 'response');
      logger.info({ identities: [{ clientSecret: 'array-secret' }] }, 'array');
      logger.info({ cloudConfig: { aadClientSecret: 'azure-json-secret' } }, 'cloud config');
      logger.info({ form: { client_assertion: 'jwt-assertion', client_secret: 'form-secret', password: 'pw' } }, 'form');
      logger.error({ err: error }, 'failed');
      logger.child({ token: 'child-token', auth: { Authorization: 'Basic child' } }).warn('child');
      logger.info({ headers: { 'Proxy-Authorization': 'Basic proxy', 'set-cookie': ['session=cookie-secret'] }, ACCESS_TOKEN: 'upper-case' }, 'spellings');
      logger.info({ nested: { object: { token: { value: 'object-valued-secret' } } } }, 'object value');
      const output = lines.join('\n');
      for (const secret of ['Basic proxy', 'cookie-secret', 'upper-case', 'object-valued-secret', 'eyJ-error-header', 'eyJ-request', 'eyJ-body', 'r-body', 'array-secret', 'azure-json-secret', 'jwt-assertion', 'form-secret', '"pw"', 'child-token', 'Basic child']) {
        expect(output).not.toContain(secret);
      }
      expect(output).toContain('ARM said no');
    });
  }

  it('leaves lines without credential keys untouched, and keeps field order when redacting', () => {
    const plain = '{"level":"info","msg":"token is a word here","tokens":1}\n';
    expect(redactLine(plain)).toBe(plain);
    expect(redactLine('{"level":"info","token":"x","msg":"m"}\n')).toBe('{"level":"info","token":"[REDACTED]","msg":"m"}\n');
  });

  it('does not change the logged object', () => {
    const { logger } = capture('json');
    const record = { token: 'still-here', nested: { password: 'also-here' } };
    logger.info(record, 'x');
    expect(record).toEqual({ token: 'still-here', nested: { password: 'also-here' } });
  });
});

describe('createLogger formats', () => {
  it('writes JSON lines with the level name, ISO time and component', () => {
    const { logger, lines } = capture('json');
    logger.info({ target: 'vmss/pool1' }, 'reconciled');
    const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(record).toMatchObject({ level: 'info', component: 'mic', target: 'vmss/pool1', msg: 'reconciled' });
    expect(record.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes one readable text line per record', () => {
    const { logger, lines } = capture('text');
    logger.warn({ target: 'vmss/pool1', count: 3, ok: true, detail: { a: 1 }, note: 'two words' }, 'identity removal delayed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z WARN {2}mic: identity removal delayed target=vmss\/pool1 count=3 ok=true detail=\{"a":1\} note="two words"$/);
  });

  it('keeps errors and hostile values on one line', () => {
    const { logger, lines } = capture('text');
    logger.error({ err: new Error('boom\nsecond line'), value: 'a\nFAKE 2024 INFO forged' }, 'failed\nforged line');
    expect(lines).toHaveLength(1);
    const [line = ''] = lines;
    expect(line).toContain('ERROR mic: failed\\nforged line');
    expect(line).toContain('err.type=Error err.message="boom\\nsecond line"');
    expect(line).toContain('err.stack="Error: boom\\nsecond line\\n    at ');
    expect(line).toContain('value="a\\nFAKE 2024 INFO forged"');
  });

  it('respects the level', () => {
    const { logger, lines } = capture('text', 'warn');
    logger.info('hidden');
    logger.debug('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
  });

  it('passes a line that is not JSON through, without control characters', () => {
    expect(formatTextLine('not json\u001b[31m')).toBe('not json [31m');
  });
});

describe('buffered stderr pieces', () => {
  it('hands records on in order, one write per batch of at least minBytes, the rest on flush', () => {
    const written: string[] = [];
    const batch = batchedWrites({ write: (chunk: string) => { written.push(chunk); } }, 10);
    batch.write('abcd\n');
    batch.write('efgh\n');
    expect(written).toEqual(['abcd\nefgh\n']);
    batch.write('ij\n');
    expect(written).toHaveLength(1);
    batch.flush();
    batch.flush();
    expect(written).toEqual(['abcd\nefgh\n', 'ij\n']);
  });

  it('gives what is pending to the caller instead (the exit writes it synchronously)', () => {
    const written: string[] = [];
    const batch = batchedWrites({ write: (chunk: string) => { written.push(chunk); } }, 100);
    batch.write('a\n');
    batch.write('b\n');
    expect(batch.take()).toBe('a\nb\n');
    expect(batch.take()).toBe('');
    batch.flush();
    expect(written).toEqual([]);
  });

  it('formats the time as pino\'s isoTime does', () => {
    const field = isoTimeOncePerMs();
    const time = (JSON.parse(`{${field.slice(1)}}`) as { time: string }).time;
    expect(Math.abs(Date.parse(time) - Date.now())).toBeLessThan(1_000);
    expect(field).toMatch(/^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
  });
});
