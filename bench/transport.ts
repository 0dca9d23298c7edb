/**
 * The cost of sealing the bodies between the parties (parties/sealed-body.ts), per message and both
 * ends together, against the baseline measured in the same run: signing and verifying the same body
 * in clear, which is what every message paid before (hgd-request-v1). Bodies of the sizes the parties
 * send: a health answer, a linear query with a 1,000-patient cohort and its answer, a round message,
 * and a 2,000-record share batch. Run: `npm run bench -- transport`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { rawX25519PublicKey, type EncryptionKey } from '../parties/key-directory';
import { signRequest, verifyRequest, type RequestTarget } from '../parties/request-signing';
import { openRequestBody, sealRequestBody } from '../parties/sealed-body';
import { generateSigningKey } from '../storage-layer/signing-key';
import { printTable, type BenchRow } from './support';

function encryptionKey(): EncryptionKey {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey, publicKeyBase64: rawX25519PublicKey(publicKey).toString('base64') };
}

/** Mean µs per call of `fn`, over at least `minMs`. */
function microsPerCall(fn: () => void, minMs = 400): number {
  fn();
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) {
    fn();
    runs++;
  }
  return ((performance.now() - start) * 1000) / runs;
}

const hex32 = (k: number) => (BigInt(k) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32);

/** Bodies as the parties send them (the JSON shapes of parties/wire.ts, with made-up contents). */
function bodies(): Array<{ name: string; text: string }> {
  const cohort = Array.from({ length: 1000 }, (_, i) => `pseudonym-${hex32(i)}`);
  const items = Array.from({ length: 2000 }, (_, i) => ({ recordId: `rec-${hex32(i)}`, pseudonym: cohort[i % 1000], indicator: 'heart_rate', effectiveStart: '2026-01-01T08:00:00.000Z', effectiveEnd: null, scale: 1, hist: 'h1' }));
  return [
    { name: 'health answer', text: JSON.stringify({ node: 1, status: 'ok' }) },
    { name: 'linear answer (sum, Σx², 10-bucket histogram)', text: JSON.stringify({ node: 1, count: 4821, digest: '123456789', scale: 1, sum: hex32(1), sumSquares: hex32(2), histograms: [{ key: 'h1', edges: [0, 1, 2], count: 4821, buckets: Array.from({ length: 12 }, (_, k) => hex32(k)) }], noised: true, peerBytesSent: 412 }) },
    { name: 'round message (3 noise sub-shares)', text: JSON.stringify({ v: 1, queryId: 'q'.repeat(36), round: 'noise', sealed: `hgd-seal-v1.${'A'.repeat(144)}` }) },
    { name: 'linear query, 1,000-patient cohort', text: JSON.stringify({ queryId: 'q'.repeat(36), indicator: 'heart_rate', from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z', cohort, measures: ['count', 'sum'], participants: [1, 2, 3], noise: { sum: { epsilon: 0.5, sensitivity: 100 } } }) },
    { name: 'share batch, 2,000 records with histograms', text: JSON.stringify({ v: 1, dealing: '1767225600000000', items, histograms: { h1: [0, 1, 2] }, sealed: `hgd-seal-v1.${'A'.repeat(2000 * 14 * 16 * 4 / 3)}` }) },
  ];
}

export function runTransportBench(): BenchRow[] {
  const signer = generateSigningKey();
  const recipient = encryptionKey();
  const target: RequestTarget = { party: 'gateway', recipient: 'node-1', method: 'POST', path: '/aggregate/linear' };
  const lookup = () => signer.publicKey;
  const rows: BenchRow[] = [];
  for (const { name, text } of bodies()) {
    const clear = microsPerCall(() => {
      const headers = signRequest(signer, target, text);
      verifyRequest({ ...target, headers: { ...headers }, body: text }, lookup, { self: 'node-1' });
    });
    const sealed = microsPerCall(() => {
      const body = sealRequestBody(recipient.publicKey, target, text);
      const headers = signRequest(signer, target, body);
      verifyRequest({ ...target, headers: { ...headers }, body }, lookup, { self: 'node-1' });
      openRequestBody(recipient, target, body);
    });
    const size = Buffer.byteLength(sealRequestBody(recipient.publicKey, target, text));
    rows.push({
      measure: `${name}: ${Buffer.byteLength(text).toLocaleString('en-US')} B → ${size.toLocaleString('en-US')} B sealed`,
      value: Math.round(sealed),
      unit: 'µs seal+sign+verify+open',
      baseline: `sign+verify in clear ${Math.round(clear)} µs: +${Math.round(sealed - clear)} µs`,
    });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable('Sealed bodies between the parties, per message (both ends; baseline: the same body signed in clear)', runTransportBench());
}
