/**
 * The records table: one encrypted ICS record a row, under its patient's data key, with the clear metadata
 * selection needs (pseudonym, indicator, times) and the two idempotency keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { asBuffer } from '../../storage-layer/db';
import { canonicalJson } from '../../storage-layer/canonical-json';
import { getIndicator, isDemographic } from '../catalogue';
import type { IcsRecord } from '../ics-record';
import { open, seal, type KeyRing } from './envelope';

export interface PreparedRecord {
  id: string;
  record: IcsRecord;
  sourceKey: string;
  contentKey: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A demographic's keys hold its value and not its time: the same value again is a duplicate, another a newer record. */
const isDemographicRecord = (r: IcsRecord): boolean => {
  const ind = getIndicator(r.indicator);
  return ind !== undefined && isDemographic(ind);
};

/**
 * (provider-scoped) source identity: the same Observation (id, version, indicator, code) is stored once; the same
 * Patient (id, version) once per value of each demographic.
 */
export function sourceKeyOf(r: IcsRecord): string {
  const p = r.provenance;
  const value = isDemographicRecord(r) ? [r.value] : [];
  return sha256(canonicalJson([p.sourceSystem, p.sourceId, p.sourceVersion, r.indicator, p.code.code, ...value]));
}

/**
 * (provider-scoped) content identity: the same value of the same patient at the same time is stored once; a
 * demographic value of a patient once, whenever it is sent.
 */
export function contentKeyOf(r: IcsRecord): string {
  if (isDemographicRecord(r)) return sha256(canonicalJson(['demographic', r.patient, r.indicator, r.value]));
  return sha256(canonicalJson([r.patient, r.indicator, r.effectiveStart, r.effectiveEnd, r.value]));
}

/**
 * Each patient's data key, unwrapped; keys are created only for patients seen for the first time, inserted in
 * sorted order so concurrent uploads cannot deadlock on each other.
 */
export async function patientKeys(trx: Knex.Transaction, keys: KeyRing, patients: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const load = async (wanted: string[]) => {
    for (let i = 0; i < wanted.length; i += 1000) {
      const found = await trx('patients').whereIn('pseudonym', wanted.slice(i, i + 1000)).select('pseudonym', 'wrapped_key');
      for (const r of found as Array<{ pseudonym: string; wrapped_key: Buffer | Uint8Array }>) {
        out.set(r.pseudonym, open(keys.wrapKey, asBuffer(r.wrapped_key), `patient:${r.pseudonym}`));
      }
    }
  };
  await load(patients);
  const missing = patients.filter((p) => !out.has(p)).sort();
  if (missing.length) {
    const rows = missing.map((p) => ({ pseudonym: p, wrapped_key: seal(keys.wrapKey, randomBytes(32), `patient:${p}`) }));
    for (let i = 0; i < rows.length; i += 1000) await trx('patients').insert(rows.slice(i, i + 1000)).onConflict('pseudonym').ignore();
    await load(missing); // another upload may have created some of them first
  }
  return out;
}

/**
 * Inserts new records (skipping duplicates) and returns the ones that were new, with their commitments.
 * `sharedAt` stores them already marked shared (a claimed batch, share-claims.ts); otherwise they wait for the outbox.
 */
export async function storeRecords(trx: Knex.Transaction, keys: KeyRing, provider: string, batchId: string, recs: PreparedRecord[], sharedAt: Date | null = null) {
  const dataKeys = await patientKeys(trx, keys, [...new Set(recs.map((r) => r.record.patient))]);
  const inserted: Array<{ prepared: PreparedRecord; commitment: string }> = [];
  for (let i = 0; i < recs.length; i += 1000) {
    const chunk = recs.slice(i, i + 1000);
    const salts = randomBytes(16 * chunk.length); // one CSPRNG call a chunk, not one a record
    const rows = chunk.map((p, j) => ({
      id: p.id,
      patient: p.record.patient,
      indicator: p.record.indicator,
      effective_start: p.record.effectiveStart,
      effective_end: p.record.effectiveEnd,
      provider,
      source_key: p.sourceKey,
      content_key: p.contentKey,
      body: seal(dataKeys.get(p.record.patient)!, Buffer.from(JSON.stringify(p.record)), p.id),
      salt: salts.subarray(16 * j, 16 * j + 16),
      batch_id: batchId,
      shared_at: sharedAt,
    }));
    const ids = new Set((await trx('records').insert(rows).onConflict().ignore().returning('id')).map((r: { id: string }) => r.id));
    rows.forEach((row, j) => {
      if (ids.has(row.id)) inserted.push({ prepared: chunk[j]!, commitment: createHash('sha256').update(row.salt).update(row.id).update(row.content_key).digest('hex') });
    });
  }
  return inserted;
}
