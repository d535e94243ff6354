/**
 * Upstream's kubenet refusal: on kubenet, pods can spoof each other's addresses, so NMI cannot tell
 * which pod asks. NMI refuses to start when the kubelet runs `--network-plugin=kubenet`, unless
 * `--allow-network-plugin-kubenet`.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { describeError, TerminalError } from '../../lib/errors.ts';
import type { NmiConfig } from '../config.ts';

const KUBENET_MESSAGE =
  'AAD Pod Identity is not supported for Kubenet. Review https://azure.github.io/aad-pod-identity/docs/configure/aad_pod_identity_on_kubenet/ for more details.';

/** Throws a {@link TerminalError} (`PI_KUBENET`) when the kubelet config names kubenet and it is not allowed. */
export async function checkKubenet(kubenet: NmiConfig['kubenet'], logger: Logger): Promise<void> {
  if (kubenet.allowed) return;
  let text: string;
  try {
    text = await readFile(kubenet.kubeletConfigPath, 'utf8');
  } catch (error) {
    logger.warn({ file: kubenet.kubeletConfigPath, err: (error as NodeJS.ErrnoException).code ?? describeError(error) }, 'kubelet config not readable; assuming the network plugin is not kubenet');
    return;
  }
  if (text.includes('--network-plugin=kubenet')) throw new TerminalError(`${KUBENET_MESSAGE} (found --network-plugin=kubenet in ${kubenet.kubeletConfigPath}; --allow-network-plugin-kubenet overrides)`, { code: 'PI_KUBENET' });
}
