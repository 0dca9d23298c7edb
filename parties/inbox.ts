/**
 * A node's inbox for peer messages of running queries (zero sharings, reshares, noise sub-shares).
 * Messages may arrive before the node itself has started the query, so they are buffered by
 * (query id, round, sender) and handed to the waiting protocol step. Each (query, round, sender) is
 * accepted once; buffered entries expire, and the inbox is bounded. (That a query id runs once at a
 * node is kept in the node's database, usage-layer/node/query-ids.ts.)
 */
import type { RoundName } from '../mpc/rounds';
import { DuplicateMessageError, InboxFullError, PeerTimeoutError } from './errors';

interface Slot {
  messages: Map<number, bigint[]>;
  waiter?: { senders: Set<number>; resolve: () => void };
  createdAt: number;
}

export class MpcInbox {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly ttlMs = 120_000,
    private readonly maxSlots = 10_000,
  ) {}

  private sweep(): void {
    const now = Date.now();
    for (const [k, s] of this.slots) if (now - s.createdAt > this.ttlMs && !s.waiter) this.slots.delete(k);
  }

  private slot(queryId: string, round: RoundName): Slot {
    const key = `${queryId}\u0000${round}`;
    let s = this.slots.get(key);
    if (!s) {
      if (this.slots.size >= this.maxSlots) this.sweep();
      if (this.slots.size >= this.maxSlots) throw new InboxFullError('too many pending MPC messages');
      s = { messages: new Map(), createdAt: Date.now() };
      this.slots.set(key, s);
    }
    return s;
  }

  deliver(queryId: string, round: RoundName, from: number, values: bigint[]): void {
    const s = this.slot(queryId, round);
    if (s.messages.has(from)) throw new DuplicateMessageError(`node-${from} already sent ${round} for query ${queryId}`);
    s.messages.set(from, values);
    if (s.waiter && [...s.waiter.senders].every((x) => s.messages.has(x))) s.waiter.resolve();
  }

  /** Waits until every sender in `senders` has delivered this round; returns and forgets their messages. */
  async collect(queryId: string, round: RoundName, senders: number[], timeoutMs: number): Promise<Map<number, bigint[]>> {
    const key = `${queryId}\u0000${round}`;
    const s = this.slot(queryId, round);
    const need = new Set(senders);
    if (![...need].every((x) => s.messages.has(x))) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          s.waiter = { senders: need, resolve };
          timer = setTimeout(() => {
            const missing = [...need].filter((x) => !s.messages.has(x));
            reject(new PeerTimeoutError(`query ${queryId}: no ${round} message from node(s) ${missing.join(', ')} within ${timeoutMs} ms`));
          }, timeoutMs);
        });
      } finally {
        clearTimeout(timer);
        s.waiter = undefined;
      }
    }
    const out = new Map<number, bigint[]>();
    for (const x of need) out.set(x, s.messages.get(x) as bigint[]);
    this.slots.delete(key);
    return out;
  }

  /** Drops everything buffered for a query (after a failure). */
  discard(queryId: string): void {
    const prefix = `${queryId}\u0000`;
    for (const key of [...this.slots.keys()]) if (key.startsWith(prefix)) this.slots.delete(key);
  }
}
