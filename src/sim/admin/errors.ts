/**
 * The admin API's one error mapping: every failure becomes `{"error": {"code", "message",
 * "problems"?}}` with a 4xx for bad input and 500 only for bugs.
 * @module
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidFaultRuleError } from '../faults/match.ts';
import { InvalidInputError } from './fields.ts';
import { InvalidSettingsError } from './settings.ts';

/** An admin request that cannot be served as asked (conflict, not found, …). */
export class AdminError extends Error {
  readonly statusCode: number;
  readonly code: string;
  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.name = 'AdminError';
    this.statusCode = statusCode;
    this.code = code;
  }
}

export interface AdminErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly problems?: readonly string[] };
}

export function adminErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof InvalidInputError || error instanceof InvalidFaultRuleError || error instanceof InvalidSettingsError) {
    return reply.code(400).send({ error: { code: 'InvalidInput', message: error.message, problems: error.problems } } satisfies AdminErrorBody);
  }
  if (error instanceof AdminError) return reply.code(error.statusCode).send({ error: { code: error.code, message: error.message } } satisfies AdminErrorBody);
  // fastify's own client errors (malformed JSON, unsupported content type, body too large)
  const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : 'BadRequest';
    return reply.code(status).send({ error: { code, message: error.message } } satisfies AdminErrorBody);
  }
  request.log.error({ err: error, url: request.url }, 'admin API failed');
  return reply.code(500).send({ error: { code: 'InternalError', message: `${request.method} ${request.url.split('?')[0] ?? ''} failed: ${error.message}` } } satisfies AdminErrorBody);
}
