/** What the coordinator's linear and product runs share: the nodes' clients, (n, t) and health checks. */
import type { KeyObject } from 'node:crypto';
import type { NodeClient } from '../../parties/client';

export interface CoordinatorContext {
  n: number;
  t: number;
  /** Node ids 1..n. */
  ids: number[];
  urls: string[];
  client(id: number): NodeClient;
  /** A node's X25519 public key (the dealer seals comparison material to it); undefined when unknown. */
  encryptionKey(id: number): KeyObject | undefined;
  /** Comparisons a histogram run deals for at most (CoordinatorOptions.maxComparisonsPerRun). */
  maxComparisonsPerRun?: number;
  /** The largest request body a node takes (config.http.bodyLimit, which the nodes share), in bytes. */
  maxRequestBytes?: number;
}

export interface Health {
  up: number[];
  down: number[];
  errors: Record<number, string>;
  /** Bytes received from the nodes' answers. */
  bytes: number;
}

/** Asks every node for a signed health answer. */
export async function checkHealth(ctx: CoordinatorContext): Promise<Health> {
  const errors: Record<number, string> = {};
  let bytes = 0;
  const up: number[] = [];
  await Promise.all(
    ctx.ids.map(async (id) => {
      try {
        const r = await ctx.client(id).health();
        bytes += r.bytesReceived;
        up.push(id);
      } catch (err) {
        errors[id] = (err as Error).message;
      }
    }),
  );
  up.sort((a, b) => a - b);
  return { up, down: ctx.ids.filter((id) => !up.includes(id)), errors, bytes };
}

export function emptyBytes(): { coordinatorToNodes: number; nodesToCoordinator: number; nodeToNode: number; total: number } {
  return { coordinatorToNodes: 0, nodesToCoordinator: 0, nodeToNode: 0, total: 0 };
}

export const sortedIds = (ids: Iterable<number>) => [...ids].sort((a, b) => a - b);
