import { generateKeyPairSync } from 'node:crypto';
import { seal, unseal } from './management-layer/sharing/sealing';
import { rawX25519PublicKey } from './management-layer/sharing/key-directory';
const kp = generateKeyPairSync('x25519');
const key = { privateKey: kp.privateKey, publicKey: kp.publicKey, publicKeyBase64: rawX25519PublicKey(kp.publicKey).toString('base64') };
const small = Buffer.alloc(32 * 8);
const big = Buffer.alloc(2000 * 15 * 16);
for (const [name, buf, count] of [['per-record (2 shares)', Buffer.alloc(32), 3000], ['per-record (15 shares)', small, 3000], ['per-batch 2000x15', big, 50]] as const) {
  for (let i = 0; i < 50; i++) seal(kp.publicKey, buf, 'aad');
  let t = performance.now();
  for (let i = 0; i < count; i++) seal(kp.publicKey, buf, 'aad');
  const s = (performance.now() - t) / count;
  const env = seal(kp.publicKey, buf, 'aad');
  t = performance.now();
  for (let i = 0; i < count; i++) unseal(key, env, 'aad');
  console.log(name, 'seal', (s * 1000).toFixed(1), 'µs', 'unseal', ((performance.now() - t) / count * 1000).toFixed(1), 'µs');
}
