/** What the ledger's checks report: the first bad entry and what is wrong with it. */
export type DamageKind =
  | 'modified' // bytes, hashes or columns disagree, or the entry differs from a witnessed or exported record of it
  | 'deleted' // a seq is missing
  | 'reordered' // the row at a seq carries another entry's bytes
  | 'truncated' // the ledger ends before a witnessed, signed or exported checkpoint's size
  | 'bad-checkpoint' // a checkpoint's signature does not verify with a trusted key, or it contradicts another
  | 'untrusted-key'; // a 'key' entry publishes a checkpoint key that the verifier was not told to trust

export interface Damage {
  /** The first bad entry. */
  seq: number;
  kind: DamageKind;
  detail: string;
}
