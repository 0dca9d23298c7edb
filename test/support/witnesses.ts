/** Three in-process witnesses, each on its own test database, reached through a direct-call transport. */
import { Witness } from '../../storage-layer/witness/witness';
import type { WitnessEndpoint, WitnessTransport } from '../../storage-layer/witness/protocol';
import { generateSigningKey, type SigningKey } from '../../storage-layer/signing-key';
import { DEFAULT_ORIGIN } from '../../storage-layer/checkpoint';
import type { Database } from '../../storage-layer/db';
import type { Trust } from '../../storage-layer/verify/trust';
import { fromBase64 } from '../../storage-layer/bytes';
import { openTestDatabase } from './db';

export interface TestWitnesses {
  witnesses: Witness[];
  dbs: Database[];
  endpoints: WitnessEndpoint[];
  transport: WitnessTransport;
  /** Names of witnesses that do not answer (their transport call fails). */
  down: Set<string>;
  /** Every request body each witness was sent. */
  requests: Map<string, string[]>;
  close(): Promise<void>;
}

/**
 * Witnesses for the log `origin` signed by `logKey`. Pass `reuse` (the databases of an earlier set)
 * to witness another log on the same databases: a witness keeps its state per origin.
 */
export async function startTestWitnesses(logKey: SigningKey, opts: { origin?: string; count?: number; reuse?: TestWitnesses } = {}): Promise<TestWitnesses> {
  const origin = opts.origin ?? DEFAULT_ORIGIN;
  const dbs: Database[] = opts.reuse?.dbs ?? [];
  const witnesses: Witness[] = [];
  for (let i = 1; i <= (opts.count ?? 3); i++) {
    const db = dbs[i - 1] ?? (await openTestDatabase());
    dbs[i - 1] = db;
    witnesses.push(await Witness.open(db, { name: `witness-${i}.test/w`, signingKey: generateSigningKey(), log: { origin, publicKey: logKey.publicKeyBase64 } }));
  }
  const down = new Set<string>();
  const requests = new Map<string, string[]>(witnesses.map((w) => [w.name, []]));
  const transport: WitnessTransport = async (endpoint, body) => {
    if (down.has(endpoint.name)) throw new Error(`witness ${endpoint.name} is down`);
    const w = witnesses.find((x) => x.name === endpoint.name);
    if (!w) return { status: 404, body: 'no such witness\n', contentType: 'text/plain' };
    requests.get(w.name)!.push(body);
    return w.handle(body);
  };
  return {
    witnesses,
    dbs,
    endpoints: witnesses.map((w) => ({ name: w.name, publicKey: w.publicKey })),
    transport,
    down,
    requests,
    close: async () => {
      for (const db of dbs) await db.close();
    },
  };
}

/** The trust an auditor configures: these log keys, these witnesses, this quorum. */
export function trustOf(logKeys: SigningKey[], witnesses: WitnessEndpoint[], quorum = 2, origin = DEFAULT_ORIGIN): Trust {
  return {
    origin,
    logKeys: logKeys.map((k) => ({ name: origin, publicKey: fromBase64(k.publicKeyBase64) })),
    witnesses: witnesses.map((w) => ({ name: w.name, publicKey: fromBase64(w.publicKey) })),
    quorum,
  };
}
