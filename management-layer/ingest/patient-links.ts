/**
 * A provider's references to its patients, kept across uploads: once a Patient with an identifier has come in
 * (in any upload), 'Patient/<id>' and its fullUrl resolve to that identifier's pseudonym in the provider's later
 * uploads. Links are per provider, so provider A's Patient/1 never resolves to provider B's patient; the
 * reference is stored only as a keyed digest. A later Patient under the same reference replaces the link.
 */
import type { Knex } from 'knex';
import { keyedDigest, type KeyRing } from './envelope';

export class PatientLinks {
  constructor(private readonly keys: KeyRing) {}

  private digest(provider: string, key: string): string {
    return keyedDigest(this.keys.linkKey, provider, key);
  }

  /** reference key -> pseudonym, for the keys the provider has links for. */
  async lookup(trx: Knex.Transaction, provider: string, keys: Iterable<string>): Promise<Map<string, string>> {
    const byDigest = new Map<string, string>();
    for (const key of keys) byDigest.set(this.digest(provider, key), key);
    const found = new Map<string, string>();
    const digests = [...byDigest.keys()];
    for (let i = 0; i < digests.length; i += 1000) {
      const rows = (await trx('patient_links').where({ provider }).whereIn('ref_digest', digests.slice(i, i + 1000)).select('ref_digest', 'pseudonym')) as Array<{ ref_digest: string; pseudonym: string }>;
      for (const r of rows) found.set(byDigest.get(r.ref_digest)!, r.pseudonym);
    }
    return found;
  }

  /** Records (or replaces) links, in a fixed order so concurrent uploads cannot deadlock on each other. */
  async save(trx: Knex.Transaction, provider: string, links: Array<{ key: string; pseudonym: string }>): Promise<void> {
    const rows = [...new Map(links.map((l) => [this.digest(provider, l.key), l.pseudonym])).entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([ref_digest, pseudonym]) => ({ provider, ref_digest, pseudonym, updated_at: new Date() }));
    for (let i = 0; i < rows.length; i += 1000) {
      await trx('patient_links').insert(rows.slice(i, i + 1000)).onConflict(['provider', 'ref_digest']).merge(['pseudonym', 'updated_at']);
    }
  }
}
