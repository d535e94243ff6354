/**
 * Fastify's per-request info lines are replaced by the instrumentation's one debug line per request
 * (which is redacted); errors are still logged by fastify as usual.
 * @module
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

export class QuietRequestLogController extends LogController {
  override incomingRequest(): void {
    // logged once, on completion, by the instrumentation
  }

  override routeNotFound(): void {
    // a 404 is recorded in the request log like any other answer
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error !== null && error !== undefined) super.requestCompleted(error, request, reply, metadata);
  }
}
