/**
 * The two protocol building blocks a node's comparison-based queries share (filtered.ts, clamped.ts):
 * a batch of secure comparisons with the dealer's material (mpc/compare.ts: cmp-open, cmp-and.1..,
 * cmp-b2a), and element-wise products of degree-t sharings (one zero and one reshare round each,
 * numbered so that several products of one query do not collide).
 */
import { comparisonSteps, type CircuitState, type CompareParams } from '../../mpc/compare';
import { mul } from '../../mpc/field';
import type { CompareMaterial } from '../../mpc/preprocessing';
import { numbered, reshareRound, zeroRound, type RoundContext } from '../../mpc/rounds';
import { runRounds, runStep, type RoundTransport } from '../../parties/round-runner';
import type { Database } from '../../storage-layer/db';
import type { EncryptionKey } from '../../parties/key-directory';

/** What a node's comparison-based run needs: its database and key, the round context and transport. */
export interface SecureRun {
  db: Database;
  encryptionKey: EncryptionKey;
  ctx: RoundContext;
  transport: RoundTransport;
}

/** One Shamir-shared bit [y_k ≥ threshold_k] per element, and the bytes this node sent. */
export async function compareBatch(run: SecureRun, params: CompareParams, y: bigint[], material: CompareMaterial): Promise<{ bits: bigint[]; bytes: number }> {
  const steps = comparisonSteps(params);
  let bytes = 0;
  const opened = await runStep(steps.open, { y, material }, run.ctx, run.transport);
  bytes += opened.bytes;
  let circuit: CircuitState = opened.state;
  for (const layer of steps.layers) {
    const r = await runStep(layer, circuit, run.ctx, run.transport);
    circuit = r.state;
    bytes += r.bytes;
  }
  const b = await runStep(steps.b2a, circuit, run.ctx, run.transport);
  return { bits: b.state, bytes: bytes + b.bytes };
}

/** Degree-t shares of a_k·b_k for every k: one zero and one reshare round, numbered `k`. */
export async function multiplyElementwise(run: SecureRun, a: readonly bigint[], b: readonly bigint[], k: number): Promise<{ values: bigint[]; bytes: number }> {
  return runRounds([numbered(zeroRound(), k), numbered(reshareRound(), k)], a.map((x, i) => mul(x, b[i] as bigint)), run.ctx, run.transport);
}
