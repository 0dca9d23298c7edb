/**
 * The mpc-framework baseline of `npm run bench -- compare`: count(x ≥ t) over N values as a garbled
 * circuit (summon-ts compiles it, emp-wasm-engine runs it: authenticated garbling, malicious security).
 * Two parties each input 32-bit additive shares of the N values; the circuit adds them and counts the
 * values ≥ t. Both parties run in this process and pass messages with setImmediate, so no network
 * latency is included (docs/benchmarks.md; /work/shared/reference/mpc-facts.md measured the same).
 */
import { EmpWasmEngine } from 'emp-wasm-engine';
import { Protocol } from 'mpc-framework';
import * as summon from 'summon-ts';

export interface BaselineResult {
  n: number;
  compileMs: number;
  runMs: number;
  bytes: number;
  count: number;
  expected: number;
}

function circuitSource(n: number, threshold: number): string {
  // A for loop over io.input (written out statement by statement, summon fails to compile at N ≥ 100).
  return `export default (io: Summon.IO) => {
    let count = 0;
    for (let i = 0; i < ${n}; i++) {
      const a = io.input('alice', 'a' + i, summon.number());
      const b = io.input('bob', 'b' + i, summon.number());
      if (a + b >= ${threshold}) count = count + 1;
    }
    io.outputPublic('count', count);
  };`;
}

export async function runMpcFrameworkBaseline(n: number, threshold = 50_000, seed = 5): Promise<BaselineResult> {
  let a = seed >>> 0;
  const rand = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a;
  };
  const values = Array.from({ length: n }, () => rand() % 100_000);
  const aliceShares = values.map(() => rand());
  const bobShares = values.map((v, i) => (v - (aliceShares[i] as number)) >>> 0);
  await summon.init();
  const t0 = performance.now();
  const { circuit } = summon.compile({ path: 'circuit/main.ts', boolifyWidth: 32, files: { 'circuit/main.ts': circuitSource(n, threshold) } });
  const t1 = performance.now();
  const protocol = new Protocol(circuit, new EmpWasmEngine());
  let bytes = 0;
  const sessions: Record<string, ReturnType<Protocol['join']>> = {};
  const send = (from: string) => (to: string, msg: Uint8Array) => {
    bytes += msg.byteLength;
    setImmediate(() => sessions[to]!.handleMessage(from, msg));
  };
  sessions.alice = protocol.join('alice', Object.fromEntries(aliceShares.map((s, i) => [`a${i}`, s])), send('alice'));
  sessions.bob = protocol.join('bob', Object.fromEntries(bobShares.map((s, i) => [`b${i}`, s])), send('bob'));
  const [out] = await Promise.all([sessions.alice.output(), sessions.bob.output()]);
  const t2 = performance.now();
  return { n, compileMs: t1 - t0, runMs: t2 - t1, bytes, count: Number((out as { count: number }).count), expected: values.filter((v) => v >= threshold).length };
}
