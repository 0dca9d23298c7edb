/**
 * The two primitives the ledger's checks need, as an interface: the verifier, the note format and
 * the Merkle tree take an implementation instead of importing node:crypto, so the same code runs on
 * the server (node-crypto.ts, fast) and in the browser (noble-crypto.ts, @noble/hashes and @noble/curves).
 */
export interface LedgerCrypto {
  sha256(data: Uint8Array): Uint8Array;
  /** SHA-256 of the concatenation, without building it (Merkle interior nodes, leaf prefixes). */
  sha256Parts(...parts: Uint8Array[]): Uint8Array;
  /** Ed25519 (RFC 8032) verification with a raw 32-byte public key; false for any malformed input. */
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}
