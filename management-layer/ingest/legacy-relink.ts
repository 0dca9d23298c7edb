/**
 * The migration of records stored before management-002 under identities HGD made up (a reference-only FHIR
 * subject, a plain CSV patient_id, neither scoped by provider). Which pseudonyms those are cannot be told from the
 * tables (a pseudonym is a one-way HMAC), so they are found when the provider next names the patient: a Patient
 * upload with id and identifier, an Observation whose reference now resolves, a CSV row with the same plain id.
 * That provider's records under the made-up pseudonym then move to the right patient: re-encrypted under the
 * patient's key, their content key recomputed, and marked unshared so the outbox re-shares them to the nodes
 * under the new pseudonym. Other providers' records under the same made-up pseudonym stay until their provider
 * names the patient. Only providers listed in legacy_subject_providers (those with records at the migration)
 * are looked at; nobody can log in as a made-up identity (pseudonymFor refuses the legacy systems).
 */
import type { Knex } from 'knex';
import { asBuffer } from '../../storage-layer/db';
import type { IcsRecord } from '../ics-record';
import { open, seal, type KeyRing } from './envelope';
import { contentKeyOf, patientKeys } from './record-store';

export class LegacyRelink {
  constructor(private readonly keys: KeyRing) {}

  /** Whether the provider may still have records under a made-up identity. */
  async applies(trx: Knex.Transaction, provider: string): Promise<boolean> {
    return (await trx('legacy_subject_providers').where({ provider }).first('provider')) !== undefined;
  }

  /** Moves the provider's records under each made-up pseudonym to its patient's; returns how many moved. */
  async relink(trx: Knex.Transaction, provider: string, moves: Map<string, string>): Promise<number> {
    const from = [...moves.keys()].filter((p) => moves.get(p) !== p);
    if (from.length === 0) return 0;
    const rows = (await trx('records').where({ provider }).whereIn('patient', from).whereNull('erased_at').orderBy('id').select('id', 'patient', 'body')) as
      Array<{ id: string; patient: string; body: Buffer | Uint8Array }>;
    if (rows.length === 0) return 0;
    const dataKeys = await patientKeys(trx, this.keys, [...new Set([...rows.map((r) => r.patient), ...rows.map((r) => moves.get(r.patient)!)])]);
    for (const row of rows) await this.move(trx, provider, row, moves.get(row.patient)!, dataKeys);
    return rows.length;
  }

  private async move(trx: Knex.Transaction, provider: string, row: { id: string; patient: string; body: Buffer | Uint8Array }, to: string, dataKeys: Map<string, Buffer>): Promise<void> {
    const record = JSON.parse(open(dataKeys.get(row.patient)!, asBuffer(row.body), row.id).toString('utf8')) as IcsRecord;
    record.patient = to;
    const contentKey = contentKeyOf(record);
    if (await trx('records').where({ provider, content_key: contentKey }).first('id')) {
      // The patient already has this value from the provider: the made-up copy is erased, not moved.
      await trx('records').where({ id: row.id }).update({ erased_at: new Date() });
      return;
    }
    await trx('records').where({ id: row.id }).update({
      patient: to,
      body: seal(dataKeys.get(to)!, Buffer.from(JSON.stringify(record)), row.id),
      content_key: contentKey,
      shared_at: null,
    });
  }
}
