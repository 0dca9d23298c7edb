/**
 * Reads across providers: a provider organisation reads a patient's records for the indicators the
 * patient granted it (treatment grants, usage-layer/consent/grants.ts), from every source, found by
 * the identifier it knows (`system|value`, pseudonymised as at ingest).
 *
 * Steps of a read: resolve the patient → check the active grants (or a break-the-glass reason) →
 * load and page the records → record the read (one `access` ledger entry and a care_reads row, in one
 * transaction) → notify the patient of a break-the-glass read. Without a grant the answer is
 * NoTreatmentGrantError, decided before any record is looked at, so it is the same whether or not
 * the patient or records exist.
 */
import { randomUUID } from 'node:crypto';
import { getIndicator } from '../../management-layer/catalogue';
import type { IcsRecord } from '../../management-layer/ics-record';
import type { Database } from '../../storage-layer/db';
import { ValidationError } from '../../storage-layer/errors';
import type { Identity } from '../../storage-layer/http-identity';
import type { Ledger } from '../../storage-layer/ledger';
import type { ConsentService, Grant } from '../consent/grants';
import { iso } from '../sql';
import { NoTreatmentGrantError } from './errors';
import type { StoredRecord } from './fhir-bundle';

/** Where care reads find records (the ingest service). */
export interface RecordReader {
  pseudonymOf(system: string, value: string): string;
  patientRecords(patient: string, filter: { indicators?: string[] }): Promise<Array<IcsRecord & { id: string }>>;
}

/** Tells a patient that someone broke the glass on their records (the alert channel). */
export interface BreakGlassNotifier {
  breakGlass(patient: string, read: { readId: string; org: string; reader: string; reason: string; indicators: string[]; ledgerSeq: number }): Promise<void>;
}

export interface CareReadRequest {
  identifier: { system: string; value: string };
  /** Indicators asked for; empty = every granted one. */
  indicators: string[];
  count: number;
  offset: number;
  /** A stated reason for an emergency read without a grant. */
  breakGlassReason?: string;
}

export interface CareRead {
  readId: string;
  records: StoredRecord[];
  total: number;
  ledgerSeq: number;
}

/** One read as the patient's access log shows it. */
export interface CareReadLogEntry {
  readId: string;
  reader: { org: string; user: string };
  indicators: string[];
  grants: string[];
  breakGlass: boolean;
  reason: string | null;
  records: number;
  time: string;
  ledgerSeq: number;
}

/** `system|value` → identifier, or throws naming `field`. */
export function parseIdentifier(raw: unknown, field: string): { system: string; value: string } {
  const text = typeof raw === 'string' ? raw : '';
  const bar = text.indexOf('|');
  const system = bar < 0 ? '' : text.slice(0, bar).trim();
  const value = bar < 0 ? '' : text.slice(bar + 1).trim();
  if (!system || !value || text.length > 512) throw new ValidationError(`"${field}" must be the patient's identifier as "system|value"`, field);
  return { system, value };
}

export class CareService {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly consents: ConsentService,
    private readonly records: RecordReader,
    private notifier: BreakGlassNotifier | null = null,
  ) {}

  setNotifier(notifier: BreakGlassNotifier): void {
    this.notifier = notifier;
  }

  /** The patient's pseudonym for an identifier a provider knows. */
  pseudonymOf(identifier: { system: string; value: string }): string {
    return this.records.pseudonymOf(identifier.system, identifier.value);
  }

  /**
   * The grants that let `org` read every one of `indicators` (all granted ones when empty), or throws
   * NoTreatmentGrantError. Returns the indicators covered and the grants used.
   */
  async authorise(patient: string, org: string, indicators: string[]): Promise<{ indicators: string[]; grants: Grant[] }> {
    const grants = await this.consents.activeTreatmentGrants(patient, org, new Date());
    const granted = new Set(grants.flatMap((g) => g.indicators));
    const wanted = indicators.length ? indicators : [...granted].sort();
    if (wanted.length === 0 || wanted.some((i) => !granted.has(i))) throw new NoTreatmentGrantError();
    return { indicators: wanted, grants: grants.filter((g) => g.indicators.some((i) => wanted.includes(i))) };
  }

  async read(identity: Identity, req: CareReadRequest): Promise<CareRead> {
    const org = identity.org;
    if (!org) throw new ValidationError('the provider token names no organisation', 'org');
    for (const name of req.indicators) if (!getIndicator(name)) throw new ValidationError(`unknown indicator ${JSON.stringify(name)}`, 'indicator');
    const patient = this.pseudonymOf(req.identifier);
    const reason = req.breakGlassReason?.trim();
    if (reason !== undefined && reason.length > 500) throw new ValidationError('the break-the-glass reason may have at most 500 characters', 'X-Break-Glass-Reason');
    // Emergency access (a stated reason): the asked-for indicators, or all of them.
    const access = reason ? { indicators: req.indicators, grants: [] as Grant[] } : await this.authorise(patient, org, req.indicators);
    const all = await this.load(patient, access.indicators);
    const indicators = access.indicators.length ? access.indicators : [...new Set(all.map((r) => r.indicator))].sort();
    const page = all.slice(req.offset, req.offset + req.count);
    const readId = randomUUID();
    const ledgerSeq = await this.record(identity, org, patient, { readId, indicators, grants: access.grants.map((g) => g.id), reason: reason ?? null, records: page.length });
    if (reason) await this.notifier?.breakGlass(patient, { readId, org, reader: identity.sub, reason, indicators, ledgerSeq });
    return { readId, records: page, total: all.length, ledgerSeq };
  }

  /** The care reads of a patient's records, oldest first. */
  async accessLog(patient: string): Promise<CareReadLogEntry[]> {
    type Row = { id: string; org: string; reader: string; indicators: string[] | string; grant_ids: string[] | string; break_glass: boolean; reason: string | null; records: number; read_at: Date; ledger_seq: number };
    const rows = (await this.db.knex('care_reads').where({ patient }).orderBy([{ column: 'read_at' }, { column: 'id' }])) as Row[];
    const json = (v: string[] | string) => (typeof v === 'string' ? (JSON.parse(v) as string[]) : v);
    return rows.map((r) => ({
      readId: r.id,
      reader: { org: r.org, user: r.reader },
      indicators: json(r.indicators),
      grants: json(r.grant_ids),
      breakGlass: Boolean(r.break_glass),
      reason: r.reason,
      records: Number(r.records),
      time: iso(r.read_at) as string,
      ledgerSeq: Number(r.ledger_seq),
    }));
  }

  private async load(patient: string, indicators: string[]): Promise<StoredRecord[]> {
    if (indicators.length === 0) return this.records.patientRecords(patient, {});
    const lists = await Promise.all(indicators.map((indicator) => this.records.patientRecords(patient, { indicators: [indicator] })));
    return lists.flat().sort((a, b) => a.effectiveStart.localeCompare(b.effectiveStart) || a.id.localeCompare(b.id));
  }

  private async record(identity: Identity, org: string, patient: string, read: { readId: string; indicators: string[]; grants: string[]; reason: string | null; records: number }): Promise<number> {
    return this.db.knex.transaction(async (trx) => {
      const [entry] = await this.ledger.appendWithin(trx, [{
        kind: 'access',
        actor: `provider:${org}`,
        payload: {
          action: read.reason === null ? 'care-read' : 'break-glass-read',
          readId: read.readId,
          patient,
          reader: identity.sub,
          indicators: read.indicators,
          grants: read.grants,
          breakGlass: read.reason === null ? null : { reason: read.reason },
          records: read.records,
        },
      }]);
      await trx('care_reads').insert({
        id: read.readId,
        patient,
        org,
        reader: identity.sub,
        indicators: JSON.stringify(read.indicators),
        grant_ids: JSON.stringify(read.grants),
        break_glass: read.reason !== null,
        reason: read.reason,
        records: read.records,
        ledger_seq: entry!.seq,
      });
      return entry!.seq;
    });
  }
}
