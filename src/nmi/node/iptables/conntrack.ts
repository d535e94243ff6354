/**
 * Deletes conntrack entries of TCP flows originally addressed to IMDS that IMDS itself answers, so
 * that connections a pod opened before the DNAT existed (or while it was missing) are re-evaluated and
 * hit NMI instead of staying pinned to the node's IMDS. Flows already DNATed to an NMI are kept: a
 * deleted one would be DNATed anew, mid-stream, to wherever the rules point now, and reset there —
 * during a migration that is every kept-alive connection to aad-pod-identity's NMI (docs/migration.md).
 * @module
 */
import { PodIdentityError } from '../../../lib/errors.ts';
import { execProgram, type Exec } from './iptables.ts';

export class ConntrackError extends PodIdentityError {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number, stderr: string) {
    super('PI_CONNTRACK', `${argv.join(' ')} exited ${exitCode}: ${stderr.trim() || '(no output)'}`);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Deletes the flows and resolves with how many conntrack reported deleted. */
export type ConntrackFlusher = (metadataIp: string, metadataPort: number) => Promise<number>;

const DELETED = /(\d+) flow entries have been deleted/;

/**
 * The real flusher: `conntrack -D -p tcp --orig-dst <ip> --dport <port> --reply-src <ip>` — flows to
 * IMDS whose replies come from IMDS (not translated), never flows an NMI's DNAT already redirected.
 */
export function execConntrack(options: { readonly conntrack?: string; readonly exec?: Exec } = {}): ConntrackFlusher {
  return conntrackDelete(options, (metadataIp, metadataPort) => ['--orig-dst', metadataIp, '--dport', String(metadataPort), '--reply-src', metadataIp]);
}

/**
 * Deletes flows conntrack picked up mid-stream from IMDS's side (`--orig-src <ip> --sport <port>`).
 * When conntrack first sees a pod's un-intercepted connection to IMDS (opened before the rules, or
 * after a flush) through a packet from IMDS, the flow's original direction is IMDS → pod: no DNAT
 * applies, the pod's packets match its reply direction, and the `--orig-dst` flush never matches it,
 * so a kept-alive connection stays on the node's IMDS. No intercepted flow has this shape.
 */
export function execConntrackReversePickups(options: { readonly conntrack?: string; readonly exec?: Exec } = {}): ConntrackFlusher {
  return conntrackDelete(options, (metadataIp, metadataPort) => ['--orig-src', metadataIp, '--sport', String(metadataPort)]);
}

function conntrackDelete(options: { readonly conntrack?: string; readonly exec?: Exec }, match: (ip: string, port: number) => string[]): ConntrackFlusher {
  const file = options.conntrack ?? 'conntrack';
  const exec = options.exec ?? execProgram;
  return async (metadataIp, metadataPort) => {
    const args = ['-D', '-p', 'tcp', ...match(metadataIp, metadataPort)];
    const result = await exec(file, args);
    const deleted = DELETED.exec(result.stderr);
    // conntrack exits 1 when nothing matched ("0 flow entries have been deleted"): nothing to do.
    if (result.code === 0 || (result.code === 1 && deleted?.[1] === '0')) return Number(deleted?.[1] ?? 0);
    throw new ConntrackError([file, ...args], result.code, result.stderr);
  };
}
