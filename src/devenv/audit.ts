import { readFile } from 'node:fs/promises';

// Metadata level records who did which verb on which resource without request bodies; the
// RequestReceived stage would only duplicate every event.
export const AUDIT_POLICY_YAML = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
`;

/** The fields of an audit.k8s.io/v1 Event that tests look at. */
export interface AuditEvent {
  readonly auditID: string;
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly user: { readonly username?: string; readonly groups?: readonly string[] };
  /** The request's User-Agent header, as the client sent it. */
  readonly userAgent?: string;
  /** RFC 3339 with microseconds: when the API server received the request. */
  readonly requestReceivedTimestamp?: string;
  readonly objectRef?: {
    readonly resource?: string;
    readonly subresource?: string;
    readonly namespace?: string;
    readonly name?: string;
    readonly apiGroup?: string;
    readonly apiVersion?: string;
  };
  readonly responseStatus?: { readonly code?: number };
}

function isAuditEvent(v: unknown): v is AuditEvent {
  return typeof v === 'object' && v !== null && 'verb' in v && 'auditID' in v && 'user' in v;
}

/** All events written so far (the apiserver's log backend writes one JSON object per line). */
export async function readAuditEvents(auditLogPath: string): Promise<AuditEvent[]> {
  const text = await readFile(auditLogPath, 'utf8').catch(() => '');
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // The last line may be half-written while the apiserver is running.
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (isAuditEvent(parsed)) events.push(parsed);
  }
  return events;
}
