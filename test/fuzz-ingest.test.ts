/**
 * Seeded fuzzing of the gateway's HTTP surface: thousands of mutated uploads (built from the real fixtures
 * under test/fixtures) and malformed requests, sent one at a time over loopback to a gateway from
 * startTestGateway(). For every answer:
 *   - never a 5xx (nor a hang or a dropped connection);
 *   - every 4xx is JSON with a non-empty "message";
 *   - the records table grows by exactly the answer's `accepted` (0 for anything but 200/422);
 *   - a transaction Bundle with a rejected entry answers 422 and stores nothing;
 * and at the end the ledger verifies and the batches' `accepted` add up to the rows stored.
 *
 * Reproduce a run: HGD_FUZZ_SEED=<seed> [HGD_FUZZ_N=<requests>] npx mocha test/fuzz-ingest.test.ts
 * (HGD_FUZZ_VERBOSE=1 prints every failing case's body prefix; HGD_FUZZ_LOG=info shows the gateway's log, e.g. a 500's error.)
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import http from 'node:http';
import zlib from 'node:zlib';
import { verifyLedger } from '../storage-layer/verify-ledger';
import type { Identity, Role } from '../storage-layer/http-identity';
import { startTestGateway, type TestGateway } from './support/gateway';
import { listRoutes } from './support/routes';
import { prng } from './support/mpc';

const SEED = Number(process.env.HGD_FUZZ_SEED ?? 20261125) >>> 0;
const N = Number(process.env.HGD_FUZZ_N ?? 3000);
const VERBOSE = process.env.HGD_FUZZ_VERBOSE === '1';
/** Failing cases printed per group (HGD_FUZZ_SHOW). */
const SHOW = Number(process.env.HGD_FUZZ_SHOW ?? 3);
const BODY_LIMIT_BYTES = 512 * 1024;

// ------------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32).

type Rng = () => number;

const mulberry32 = (seed: number): Rng => prng(seed);

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const chance = (rng: Rng, p: number) => rng() < p;

// ------------------------------------------------------------------------------------------------
// Fixtures.

const fixture = (name: string) => fs.readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const fhirNames = fs.readdirSync(new URL('./fixtures/fhir/', import.meta.url)).filter((f) => f.endsWith('.json')).sort();
const fhirDocs: Array<{ name: string; doc: Record<string, unknown> }> = fhirNames.map((name) => ({ name, doc: JSON.parse(fixture(`fhir/${name}`)) }));
const observations = fhirDocs.filter((d) => d.doc.resourceType === 'Observation');
const bundles = fhirDocs.filter((d) => d.doc.resourceType === 'Bundle');
const NDJSON = fixture('ndjson/observations.ndjson');
const CSVS = ['csv/observations.csv', 'csv/bad-rows.csv', 'csv/missing-column.csv'].map((n) => ({ name: n, text: fixture(n) }));

const BUNDLE_TYPES = ['transaction', 'batch', 'collection', 'searchset'] as const;
const clone = <T>(v: T): T => structuredClone(v);

/** A transaction Bundle of every Observation fixture (valid unless mutated). */
function transactionOfObservations(rng: Rng): Record<string, unknown> {
  const chosen = observations.filter(() => chance(rng, 0.6));
  const list = chosen.length ? chosen : [observations[0]!];
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: list.map((o, i) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resource: clone(o.doc), request: { method: 'POST', url: 'Observation' } })),
  };
}

// ------------------------------------------------------------------------------------------------
// Mutations of parsed JSON.

type Json = unknown;
type Slot = { parent: Record<string, Json> | Json[]; key: string | number };

function slots(root: Json, limit = 4000): Slot[] {
  const out: Slot[] = [];
  const stack: Json[] = [root];
  while (stack.length && out.length < limit) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        out.push({ parent: node, key: i });
        stack.push(v);
      });
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, Json>)) {
        out.push({ parent: node as Record<string, Json>, key: k });
        stack.push(v);
      }
    }
  }
  return out;
}

const get = (s: Slot) => (s.parent as Record<string | number, Json>)[s.key];
const set = (s: Slot, v: Json) => {
  (s.parent as Record<string | number, Json>)[s.key] = v;
};

/** Placeholders replaced in the serialised text (values JSON.stringify cannot produce). */
const DEEP = '@@fuzz-deep@@';
const HUGE = '@@fuzz-huge@@';

const NANISH = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '', ' ', '0x1F', '1,5', '١٢٣', '７２', '72 bpm', 'null', 'undefined', '\u0000', '1e-999', '-0', '+72', '.5', '5.', '1_000', ' 72 '];
const UNICODE = ['😀', '\u202Eevil', 'e\u0301', '\u200B72', '\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', '\u2028', 'Ω≈ç√', '𝟕𝟐', '\uFEFF', 'x'.repeat(70_000), '"\\', '</script>', "'; DROP TABLE records; --", '%00', '${jndi:x}', '\r\n', '\t'];
const NUMBERS = [0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324, 1e21, 123456789.12345679, -0.0001, 2 ** 31, -(2 ** 63)];
const HUGE_TEXT = ['1e999', '-1e999', `1${'0'.repeat(400)}`, `0.${'0'.repeat(400)}1`, '1e-999', '-0', '9007199254740993', '1E+2', '-0.0e0'];
const DATES = ['2024-02-30', '2024-13-01', '0000-01-01', '9999-12-31T23:59:59Z', '2024-01-01T25:00:00Z', '2024', '2024-01', '1970-01-01T00:00:00+14:00', '-000001-01-01', '+275760-09-13T00:00:00Z', '2024-05-01T07:30:00.123456789+02:00', '2024-05-01T07:30:00', 'yesterday', '2024-05-01T07:30:00+99:00', '1900-01-01'];
const UNITS = ['mg/dL', 'mmol/L', 'Cel', '[degF]', 'kg', '[lb_av]', '/min', 'C', '', 'xyz', '{beats}/min', '10*3/uL', 'mm[Hg]', 'kPa', '%', 'g/L', '1', 'mol', 'm', '[in_i]'];
const CODES = ['8867-4', '8480-6', '8462-4', '85354-9', '8310-5', '2345-7', '2339-0', '29463-7', '8302-2', '4548-4', '55423-8', '2093-3', '11555-0', '', 'LOINC', '8867-4 '];
const RESOURCE_TYPES = ['Observation', 'Patient', 'Bundle', 'DiagnosticReport', 'Encounter', '', 'observation', null];
const STATUSES = ['final', 'amended', 'corrected', 'preliminary', 'entered-in-error', 'unknown', '', 'FINAL'];

function randomValue(rng: Rng, depth = 0): Json {
  switch (int(rng, 0, 8)) {
    case 0: return null;
    case 1: return chance(rng, 0.5);
    case 2: return pick(rng, NUMBERS);
    case 3: return pick(rng, NANISH);
    case 4: return pick(rng, UNICODE);
    case 5: return depth > 2 ? [] : [randomValue(rng, depth + 1), randomValue(rng, depth + 1)];
    case 6: return depth > 2 ? {} : { value: randomValue(rng, depth + 1), code: pick(rng, UNITS) };
    case 7: return HUGE;
    default: return DEEP;
  }
}

/** One in-place mutation of a parsed document; returns its name. */
function mutateJson(rng: Rng, doc: Json): string {
  const all = slots(doc);
  if (!all.length) return 'none';
  const s = pick(rng, all);
  const v = get(s);
  const op = int(rng, 0, 13);
  switch (op) {
    case 0:
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete (s.parent as Record<string, Json>)[s.key as string];
      return `delete ${s.key}`;
    case 1:
      if (Array.isArray(s.parent)) s.parent.push(clone(v));
      else (s.parent as Record<string, Json>)[`${String(s.key)}${pick(rng, ['', '_', 'X'])}${int(rng, 0, 9)}`] = clone(v);
      return `duplicate ${s.key}`;
    case 2: {
      // Retype: the same data under another JSON type.
      const retyped = typeof v === 'number' ? String(v) : typeof v === 'string' ? (Number.isFinite(Number(v)) ? Number(v) : [v]) : Array.isArray(v) ? { ...v } : v && typeof v === 'object' ? Object.values(v) : String(v);
      set(s, retyped);
      return `retype ${s.key}`;
    }
    case 3: set(s, randomValue(rng)); return `random value at ${s.key}`;
    case 4: set(s, pick(rng, NUMBERS)); return `number at ${s.key}`;
    case 5: set(s, HUGE); return `huge number text at ${s.key}`;
    case 6: set(s, pick(rng, NANISH)); return `NaN-ish string at ${s.key}`;
    case 7: set(s, pick(rng, UNICODE)); return `unicode at ${s.key}`;
    case 8: set(s, DEEP); return `deep nesting at ${s.key}`;
    default: {
      // Targeted: the fields the pipeline reads.
      const targets = all.filter((x) => ['value', 'code', 'unit', 'system', 'effectiveDateTime', 'start', 'end', 'resourceType', 'status', 'type', 'reference', 'id', 'fullUrl'].includes(String(x.key)));
      if (!targets.length) return 'none';
      const t = pick(rng, targets);
      const key = String(t.key);
      const replacement =
        key === 'value' ? pick(rng, [...NUMBERS, ...NANISH, HUGE] as Json[])
          : key === 'code' ? pick(rng, [...CODES, ...UNITS])
            : key === 'unit' ? pick(rng, UNITS)
              : key === 'effectiveDateTime' || key === 'start' || key === 'end' ? pick(rng, DATES)
                : key === 'resourceType' ? pick(rng, RESOURCE_TYPES)
                  : key === 'status' ? pick(rng, STATUSES)
                    : key === 'type' ? pick(rng, [...BUNDLE_TYPES, 'document', 'message', 'history', '', 'TRANSACTION'])
                      : key === 'reference' ? pick(rng, ['Patient/p1', 'Patient/', '#p1', 'Device/x', 'urn:uuid:nope', 'http://x/fhir/Patient/1/_history/2', '', 'Patient/p1\u0000'])
                        : pick(rng, ['', 'x', 'a\u0000b', 'urn:uuid:00000000-0000-4000-8000-000000000000', 'x'.repeat(5000), '😀']);
      set(t, replacement);
      return `targeted ${key}`;
    }
  }
}

function serialise(rng: Rng, doc: Json): string {
  let text = JSON.stringify(doc);
  while (text.includes(`"${DEEP}"`)) {
    const depth = pick(rng, [50, 1000, 12_000, 30_000, 60_000]);
    const nest = chance(rng, 0.5) ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    text = text.replace(`"${DEEP}"`, nest);
  }
  while (text.includes(`"${HUGE}"`)) text = text.replace(`"${HUGE}"`, pick(rng, HUGE_TEXT));
  return text;
}

/** Gives every Observation a new id and every entry a new fullUrl, so a mutant is new data, not a duplicate. */
function freshen(doc: Json, tag: string): void {
  for (const s of slots(doc)) {
    const v = get(s);
    if (s.key === 'id' && typeof v === 'string') set(s, `${v}-${tag}`);
    if ((s.key === 'fullUrl' || s.key === 'reference') && typeof v === 'string' && v.startsWith('urn:uuid:')) set(s, `${v}-${tag}`);
    if (s.key === 'effectiveDateTime' && typeof v === 'string' && /^\d{4}/.test(v)) set(s, `${String(1990 + (Number.parseInt(tag, 36) % 30))}${v.slice(4)}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Mutations of bytes and text.

const INVALID_UTF8 = [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xfe, 0xff]];

function mutateBytes(rng: Rng, buf: Buffer): { buf: Buffer; name: string } {
  const at = buf.length ? int(rng, 0, buf.length - 1) : 0;
  switch (int(rng, 0, 8)) {
    case 0: return { buf: buf.subarray(0, at), name: `truncate at ${at}` };
    case 1: {
      const b = Buffer.from(buf);
      for (let k = 0; k < int(rng, 1, 8) && b.length; k++) b[int(rng, 0, b.length - 1)] = int(rng, 0, 255);
      return { buf: b, name: 'flip bytes' };
    }
    case 2: {
      const junk = Buffer.from(Array.from({ length: int(rng, 1, 64) }, () => int(rng, 0, 255)));
      return { buf: Buffer.concat([buf.subarray(0, at), junk, buf.subarray(at)]), name: 'insert random bytes' };
    }
    case 3: return { buf: Buffer.concat([buf.subarray(0, at), Buffer.from(pick(rng, INVALID_UTF8)), buf.subarray(at)]), name: 'invalid UTF-8' };
    case 4: {
      const end = Math.min(buf.length, at + int(rng, 1, 200));
      return { buf: Buffer.concat([buf.subarray(0, at), buf.subarray(end)]), name: 'delete range' };
    }
    case 5: {
      const end = Math.min(buf.length, at + int(rng, 1, 200));
      return { buf: Buffer.concat([buf.subarray(0, end), buf.subarray(at, end), buf.subarray(end)]), name: 'duplicate range' };
    }
    case 6: return { buf: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]), name: 'BOM' };
    case 7: return { buf: Buffer.concat([buf, Buffer.from(pick(rng, ['\n', 'garbage', '}', ']', '\u0000', ',{}', '\r\n\r\n']))]), name: 'trailing junk' };
    default: return { buf: Buffer.from(buf.toString('latin1').replace(/"/, pick(rng, ["'", '', '\\"', '""'])), 'latin1'), name: 'break a quote' };
  }
}

/** CSV text mutations: columns, quoting, line endings, BOM, values. */
function mutateCsv(rng: Rng, text: string, tag: string): { text: string; name: string } {
  const eol = /\r\n/.test(text) ? '\r\n' : '\n';
  let lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n/);
  // Fresh data most of the time: shift every timestamp's year.
  if (chance(rng, 0.7)) lines = lines.map((l, i) => (i === 0 ? l : l.replace(/\b20(\d\d)-/g, () => `${1990 + (Number.parseInt(tag, 36) % 30)}-`)));
  const row = () => int(rng, 1, Math.max(1, lines.length - 1));
  const names: string[] = [];
  const ops = int(rng, 1, 3);
  for (let k = 0; k < ops; k++) {
    const op = int(rng, 0, 15);
    switch (op) {
      case 0: lines = lines.map((l) => `${l},extra`); names.push('extra column everywhere'); break;
      case 1: { const r = row(); lines[r] = `${lines[r] ?? ''},x,y,z`; names.push('extra fields in a row'); break; }
      case 2: { const r = row(); lines[r] = (lines[r] ?? '').split(',').slice(0, -2).join(','); names.push('missing fields'); break; }
      case 3: lines[0] = `${lines[0]},${pick(rng, ['value', 'patient_id', 'source_id', 'Value '])}`; names.push('duplicate header column'); break;
      case 4: { const h = lines[0]!.split(','); h.sort(() => rng() - 0.5); lines[0] = h.join(','); names.push('shuffled header'); break; }
      case 5: { const r = row(); lines[r] = `"${lines[r] ?? ''}`; names.push('unbalanced quote'); break; }
      case 6: { const r = row(); lines[r] = (lines[r] ?? '').replace(/,([^,]*),/, ',"$1\r\nspan ""quoted""",'); names.push('quoted CRLF field'); break; }
      case 7: { const r = row(); const f = (lines[r] ?? '').split(','); f[int(rng, 0, Math.max(0, f.length - 1))] = String(pick(rng, [...NANISH, ...UNICODE.slice(0, 12), ...DATES, ...UNITS, ...HUGE_TEXT])); lines[r] = f.join(','); names.push('field value'); break; }
      case 8: lines = lines.concat(Array.from({ length: int(rng, 10, 400) }, () => lines[row()] ?? '')); names.push('many rows'); break;
      case 9: lines = lines.slice(0, 1); names.push('header only'); break;
      case 10: lines.splice(row(), 0, '', '   ', ',,,,,,'); names.push('blank rows'); break;
      case 11: lines = lines.map((l) => l.replace(/,/g, pick(rng, [';', '\t', '|']))); names.push('other delimiter'); break;
      case 12: { const r = row(); lines[r] = `${lines[r] ?? ''}\u0000`; names.push('NUL'); break; }
      case 13: lines[0] = lines[0]!.toUpperCase().replace(/_/g, pick(rng, ['_', ' ', '-'])); names.push('header case'); break;
      case 14: lines[0] = `source_id,${lines[0]}`; lines = lines.map((l, i) => (i === 0 ? l : `${pick(rng, ['', `src-${tag}-${i}`, `src-${i}`, '"a,b"'])},${l}`)); names.push('source_id column'); break;
      default: { const r = row(); lines[r] = (lines[r] ?? '').replace(/^[^,]*/, pick(rng, ['"http://x.example/mrn|Ω-1"', 'MRN-😀', '|', 'sys|', '|val', '"a|b|c"', ''])); names.push('patient id'); }
    }
  }
  const end = pick(rng, ['\n', '\r\n', '\r', eol, eol]);
  let out = lines.join(end);
  if (chance(rng, 0.3)) out = `\uFEFF${out}`;
  if (chance(rng, 0.2)) out = `\uFEFF\uFEFF${out}`;
  return { text: out, name: `csv: ${names.join(', ')}` };
}

/** NDJSON: mutate lines (as JSON or as text), add garbage, join or split lines. */
function mutateNdjson(rng: Rng, tag: string): { text: string; name: string } {
  let lines = NDJSON.split('\n');
  const names: string[] = [];
  lines = lines.map((l) => {
    if (!l.trim()) return l;
    try {
      const doc = JSON.parse(l) as Json;
      if (chance(rng, 0.8)) freshen(doc, tag);
      if (chance(rng, 0.3)) names.push(mutateJson(rng, doc));
      return serialise(rng, doc);
    } catch {
      return l;
    }
  });
  switch (int(rng, 0, 8)) {
    case 0: lines.splice(int(rng, 0, lines.length), 0, pick(rng, ['garbage', '[]', 'null', '"str"', '1', '{', '{}', '{"resourceType":"Observation"}', `${'['.repeat(3000)}${']'.repeat(3000)}`])); names.push('garbage line'); break;
    case 1: lines = lines.concat(lines); names.push('duplicated lines'); break;
    case 2: { const i = int(rng, 0, lines.length - 2); lines.splice(i, 2, `${lines[i]}${lines[i + 1]}`); names.push('joined lines'); break; }
    case 3: return { text: lines.join('\r\n'), name: `ndjson CRLF ${names.join(', ')}` };
    case 4: return { text: `\uFEFF${lines.join('\n')}`, name: `ndjson BOM ${names.join(', ')}` };
    case 5: lines.push(`{"resourceType":"Observation","id":"long-${tag}","note":"${'x'.repeat(200_000)}"}`); names.push('very long line'); break;
    default: break;
  }
  return { text: lines.join('\n'), name: `ndjson ${names.join(', ')}` };
}

// ------------------------------------------------------------------------------------------------
// Requests.

interface Case {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The body is a FHIR transaction Bundle as the gateway will read it (all or nothing). */
  transaction?: boolean;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function send(base: URL, c: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...c.headers };
    if (c.body) headers['content-length'] = c.body.length;
    const req = http.request({ host: base.hostname, port: base.port, method: c.method, path: c.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer within 20 s')));
    req.on('error', reject);
    if (c.body) req.write(c.body);
    req.end();
  });
}

interface Tokens {
  provider: string;
  provider2: string;
  noOrg: string;
  patient: string;
  other: Record<string, string>;
  badRole: string;
  expired: string;
}

function authHeader(rng: Rng, tokens: Tokens, valid: string): { value: string | undefined; name: string } {
  const variants: Array<[string, string | undefined]> = [
    ['none', undefined],
    ['Bearer', 'Bearer'],
    ['Bearer empty', 'Bearer '],
    ['two spaces', `Bearer  ${valid}`],
    ['lowercase scheme', `bearer ${valid}`],
    ['Basic', 'Basic dXNlcjpwYXNz'],
    ['trailing junk', `Bearer ${valid} x`],
    ['truncated token', `Bearer ${valid.slice(0, int(rng, 1, valid.length - 1))}`],
    ['flipped signature', `Bearer ${valid.slice(0, -4)}${valid.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`],
    ['alg none', 'Bearer eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJ4IiwiaXNzIjoiaGdkLWdhdGV3YXkifQ.'],
    ['not a JWT', 'Bearer not-a-jwt'],
    ['dots', 'Bearer ...'],
    ['long', `Bearer ${'a'.repeat(8000)}`],
    ['latin1', 'Bearer \u00e9\u00e8'],
    ['bad role claim', `Bearer ${tokens.badRole}`],
    ['expired', `Bearer ${tokens.expired}`],
    ['provider without org', `Bearer ${tokens.noOrg}`],
    ['patient token', `Bearer ${tokens.patient}`],
    ['auditor token', `Bearer ${tokens.other.auditor}`],
    ['researcher token', `Bearer ${tokens.other.researcher}`],
  ];
  const [name, value] = pick(rng, variants);
  return { value, name };
}

const CONTENT_TYPES = {
  json: ['application/fhir+json', 'application/json', 'application/fhir+json; charset=utf-8', 'APPLICATION/FHIR+JSON', 'application/json; fhirVersion=4.0'],
  ndjson: ['application/fhir+ndjson', 'application/x-ndjson', 'application/ndjson', 'application/fhir+ndjson; charset=UTF-8'],
  csv: ['text/csv', 'text/csv; charset=utf-8', 'text/csv; header=present'],
  wrong: ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '', '*/*', 'application/json, text/csv', 'application/fhir+json; charset=latin1',
    'application/fhir+json; charset=utf-16', 'text/csv; charset=nope', 'application/fhir+ndjson; charset=utf-16le', 'application/json;', 'text/csv; charset=iso-8859-1', 'application/octet-stream', 'application/fhir+xml', 'json'],
};

/** Parameter values for query strings and path segments (already URL-safe or deliberately not). */
const PARAM_VALUES = ['', '0', '1', '-1', '2', '1.5', '1e3', 'abc', '99999999999999999999', '999999999999999', '9007199254740993', '%00', '%ZZ', '%', '%E0%A4%A', '%C0%AF', '..', '%2F', '%2e%2e%2f', encodeURIComponent('😀'), encodeURIComponent("' OR 1=1 --"),
  'x'.repeat(3000), '0x10', '+1', '%20', '1%00', 'null', 'true', '[]', encodeURIComponent('{"$gt":0}'), '2024-01-01', '2024-01-01T00:00:00Z', '2024-13-45', '0000-01-01', '+275760-09-13', '9999-12-31T23:59:59.999Z',
  'body_weight', 'heart_rate', 'nope', 'ndjson', 'json', encodeURIComponent('\u0000'), '\u00e9', 'NaN', 'Infinity', '-0', '00000000-0000-4000-8000-000000000000'];
const PARAM_NAMES = ['size', 'from', 'to', 'indicator', 'format', 'seq', 'limit', 'offset', 'study', 'q', 'page', 'size[]', 'from[a]', '__proto__', 'constructor', 'toString', ''];

/** Every GET route the app has. */
/** GET routes, without the event stream (it answers 200 and never ends; its rule is in test/authz-matrix.test.ts). */
function getRoutes(app: unknown): Array<{ path: string }> {
  return listRoutes(app).filter((r) => r.method === 'GET' && r.path !== '/alerts/stream');
}

function fuzzQuery(rng: Rng): string {
  if (chance(rng, 0.15)) return '';
  const parts: string[] = [];
  for (let k = 0; k < int(rng, 1, 4); k++) {
    const name = pick(rng, PARAM_NAMES);
    parts.push(chance(rng, 0.1) ? name : `${name}=${pick(rng, PARAM_VALUES)}`);
  }
  if (chance(rng, 0.1)) parts.push(parts[0]!);
  return `?${parts.join(pick(rng, ['&', '&', '&', ';', '&&']))}`;
}

// ------------------------------------------------------------------------------------------------

describe('fuzz: mutated uploads and malformed requests', function () {
  this.timeout(240_000);
  let t: TestGateway;
  let tokens: Tokens;
  let routes: Array<{ path: string }>;

  before(async () => {
    // The fuzz sends many bad credentials from one address: no limit may cut it off.
    t = await startTestGateway({ HGD_LOG: process.env.HGD_FUZZ_LOG ?? 'silent', HGD_RATE_LIMIT_PER_MINUTE: '10000000', HGD_AUTH_FAILURES_PER_MINUTE: '10000000', HGD_BODY_LIMIT: `${BODY_LIMIT_BYTES / 1024}kb` });
    const other: Record<string, string> = {};
    for (const role of ['auditor', 'researcher', 'admin', 'node'] as Role[]) other[role] = await t.token({ role, sub: `fuzz-${role}`, ...(role === 'researcher' ? { studies: ['s1'] } : {}) });
    tokens = {
      provider: await t.token({ role: 'provider', sub: 'fuzz-uploader', org: 'fuzz-clinic' }),
      provider2: await t.token({ role: 'provider', sub: 'fuzz-uploader-2', org: 'fuzz-lab' }),
      noOrg: await t.token({ role: 'provider', sub: 'fuzz-no-org' }),
      patient: await t.patientToken('http://hospital.example/mrn', 'MRN-100'),
      other,
      badRole: await t.gateway.tokens.issue({ role: 'root' as Role, sub: 'x' } as Identity),
      expired: await t.gateway.tokens.issue({ role: 'provider', sub: 'old', org: 'fuzz-clinic' }, 0),
    };
    routes = getRoutes(t.gateway.app);
    assert.ok(routes.length >= 5, `found GET routes: ${routes.map((r) => r.path).join(', ')}`);
  });
  after(async () => {
    agent.destroy();
    await t?.close();
  });

  const countRecords = async () => Number((await t.gateway.db.knex('records').count<{ c: string | number }[]>('* as c'))[0]!.c);

  /** One request, built only from the PRNG (never from earlier answers), so a seed replays the same run. */
  function nextCase(rng: Rng, i: number): Case {
    const tag = `f${i.toString(36)}`;
    const roll = rng();
    const provider = chance(rng, 0.85) ? tokens.provider : tokens.provider2;
    const auth = { authorization: `Bearer ${provider}` };

    if (roll < 0.62) {
      // An upload built from a fixture, mutated.
      const kind = rng();
      if (kind < 0.5) {
        // FHIR JSON: a lone Observation, a Bundle of each type, or a transaction of Observations.
        let doc: Record<string, unknown>;
        let base: string;
        const which = rng();
        if (which < 0.35) {
          const o = pick(rng, observations);
          doc = clone(o.doc);
          base = o.name;
        } else if (which < 0.7) {
          const b = pick(rng, bundles);
          doc = clone(b.doc);
          doc.type = pick(rng, BUNDLE_TYPES);
          base = `${b.name} as ${String(doc.type)}`;
        } else {
          doc = transactionOfObservations(rng);
          base = 'transaction of Observations';
        }
        if (chance(rng, 0.75)) freshen(doc, tag);
        const names: string[] = [];
        const mutations = pick(rng, [0, 1, 1, 1, 2, 2, 3, 5]);
        for (let k = 0; k < mutations; k++) names.push(mutateJson(rng, doc));
        let body: Buffer = Buffer.from(serialise(rng, doc));
        if (chance(rng, 0.2)) {
          const m = mutateBytes(rng, body);
          body = m.buf;
          names.push(m.name);
        }
        return { label: `${base}: ${names.join('; ') || 'unmutated'}`, method: 'POST', path: '/ingest', headers: { ...auth, 'content-type': pick(rng, CONTENT_TYPES.json) }, body };
      }
      if (kind < 0.75) {
        const m = mutateNdjson(rng, tag);
        let body: Buffer = Buffer.from(m.text);
        let name = m.name;
        if (chance(rng, 0.15)) {
          const b = mutateBytes(rng, body);
          body = b.buf;
          name += `; ${b.name}`;
        }
        return { label: name, method: 'POST', path: '/ingest', headers: { ...auth, 'content-type': pick(rng, CONTENT_TYPES.ndjson) }, body };
      }
      const csv = pick(rng, CSVS);
      const m = mutateCsv(rng, csv.text, tag);
      let body: Buffer = Buffer.from(m.text);
      let name = `${csv.name} ${m.name}`;
      if (chance(rng, 0.15)) {
        const b = mutateBytes(rng, body);
        body = b.buf;
        name += `; ${b.name}`;
      }
      return { label: name, method: 'POST', path: '/ingest', headers: { ...auth, 'content-type': pick(rng, CONTENT_TYPES.csv) }, body };
    }

    if (roll < 0.72) {
      // A well-formed upload with the wrong content type, charset or encoding.
      const sources = [JSON.stringify(pick(rng, observations).doc), NDJSON, pick(rng, CSVS).text];
      const body = Buffer.from(pick(rng, sources));
      const ct = pick(rng, [...CONTENT_TYPES.wrong, ...CONTENT_TYPES.json, ...CONTENT_TYPES.ndjson, ...CONTENT_TYPES.csv]);
      const headers: Record<string, string> = { ...auth };
      if (ct !== '' || chance(rng, 0.5)) headers['content-type'] = ct;
      let payload = body;
      if (chance(rng, 0.25)) {
        const enc = pick(rng, ['gzip', 'deflate', 'br', 'identity', 'compress', 'gzip, gzip', 'x-nope']);
        headers['content-encoding'] = enc;
        if (enc === 'gzip' && chance(rng, 0.5)) payload = zlib.gzipSync(body);
      }
      return { label: `content type ${JSON.stringify(headers['content-type'] ?? '(none)')}${headers['content-encoding'] ? ` encoding ${headers['content-encoding']}` : ''}`, method: 'POST', path: '/ingest', headers, body: payload };
    }

    if (roll < 0.76) {
      // Empty, trivial and oversized bodies.
      const bodies: Array<[string, Buffer]> = [
        ['empty', Buffer.alloc(0)], ['whitespace', Buffer.from(' \r\n\t')], ['null', Buffer.from('null')], ['[]', Buffer.from('[]')], ['{}', Buffer.from('{}')],
        ['string', Buffer.from('"str"')], ['number', Buffer.from('1')], ['BOM only', Buffer.from([0xef, 0xbb, 0xbf])], ['NUL', Buffer.from([0])],
        ['random bytes', Buffer.from(Array.from({ length: int(rng, 1, 2000) }, () => int(rng, 0, 255)))],
        ['over the limit', Buffer.from(`{"resourceType":"Observation","x":"${'a'.repeat(BODY_LIMIT_BYTES + 10)}"}`)],
        ['deep JSON', Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)],
      ];
      const [name, body] = pick(rng, bodies);
      const ct = pick(rng, [...CONTENT_TYPES.json, ...CONTENT_TYPES.ndjson, ...CONTENT_TYPES.csv]);
      return { label: `${name} body as ${ct}`, method: 'POST', path: '/ingest', headers: { ...auth, 'content-type': ct }, body };
    }

    if (roll < 0.84) {
      // Authorization header variants, on an upload or on a GET route.
      const a = authHeader(rng, tokens, provider);
      const headers: Record<string, string> = {};
      if (a.value !== undefined) headers.authorization = a.value;
      if (chance(rng, 0.5)) {
        headers['content-type'] = 'application/fhir+json';
        const o = clone(pick(rng, observations).doc);
        freshen(o, tag);
        return { label: `auth ${a.name} on POST /ingest`, method: 'POST', path: '/ingest', headers, body: Buffer.from(JSON.stringify(o)) };
      }
      const route = pick(rng, routes);
      return { label: `auth ${a.name} on GET ${route.path}`, method: 'GET', path: route.path.replace(/:\w+/g, '1'), headers };
    }

    if (roll < 0.97) {
      // GET routes with bad path parameters and query strings.
      const route = pick(rng, routes);
      const path = route.path.replace(/:\w+/g, () => pick(rng, PARAM_VALUES) || '0');
      const token = pick(rng, [tokens.provider, tokens.provider, tokens.patient, tokens.patient, tokens.other.auditor!, tokens.other.researcher!, tokens.other.admin!, undefined]);
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      const method = chance(rng, 0.1) ? 'HEAD' : 'GET';
      return { label: `${method} ${route.path} with fuzzed parameters`, method, path: `${path}${fuzzQuery(rng)}`, headers };
    }

    // Other methods and unknown paths.
    const method = pick(rng, ['PUT', 'DELETE', 'PATCH', 'POST', 'GET', 'OPTIONS']);
    const path = pick(rng, ['/', '/ingest/', '/ingest/x', '/ledger', '/ledger/entries/', '/ledger/entries/1/extra', '/%', '/%ZZ', '/..%2f..%2fetc%2fpasswd', `/${'a'.repeat(4000)}`, '/health/', '/quarantine/%2e%2e', '/patients/me', '/patients/x/observations', '//ingest']);
    return { label: `${method} ${path.slice(0, 60)}`, method, path, headers: { ...auth, 'content-type': 'application/fhir+json' }, body: method === 'GET' || method === 'OPTIONS' ? undefined : Buffer.from('{}') };
  }

  /** Whether the gateway will read this body as a transaction Bundle. */
  function isTransaction(c: Case): boolean {
    if (c.method !== 'POST' || !c.body || c.headers['content-encoding']) return false;
    const ct = (c.headers['content-type'] ?? '').toLowerCase();
    if (!/^application\/(fhir\+)?json\s*(;\s*charset=utf-8\s*)?(;|$)/.test(ct)) return false;
    try {
      const doc = JSON.parse(c.body.toString('utf8').replace(/^\uFEFF/, '')) as { resourceType?: unknown; type?: unknown };
      return doc?.resourceType === 'Bundle' && doc.type === 'transaction';
    } catch {
      return false;
    }
  }

  it(`${N} seeded requests: no 5xx, JSON 4xx with a message, no partial write, a valid ledger (seed ${SEED})`, async function () {
    const rng = mulberry32(SEED);
    const base = new URL(t.url);
    const failures: Array<{ i: number; label: string; problem: string; request: string }> = [];
    const statuses = new Map<number, number>();
    let transactions = 0;
    let transactionsRejected = 0;
    let acceptedTotal = 0;
    const started = Date.now();
    let rows = await countRecords();

    for (let i = 0; i < N; i++) {
      const c = nextCase(rng, i);
      c.transaction = isTransaction(c);
      const problems: string[] = [];
      const invalidHttp = /[^\x21-\x7e]/.test(c.path);
      let answer: Answer | null = null;
      try {
        answer = await send(base, c);
      } catch (err) {
        problems.push(`no HTTP answer: ${(err as Error).message}`);
      }
      const after = await countRecords();
      const added = after - rows;
      rows = after;
      if (answer) {
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        let body: { message?: unknown; accepted?: unknown; rejected?: unknown; status?: unknown; batchId?: unknown } | null = null;
        try {
          body = JSON.parse(answer.text);
        } catch {
          body = null;
        }
        if (answer.status >= 500) problems.push(`${answer.status}: ${answer.text.slice(0, 200)}`);
        if (invalidHttp) {
          // Raw non-ASCII bytes in the request target are not HTTP/1.1: Node's parser refuses them with a bare 400
          // before express sees the request.
          if (answer.status !== 400) problems.push(`${answer.status} for a request target that is not valid HTTP: ${answer.text.slice(0, 120)}`);
        } else if (answer.status >= 400 && answer.status < 500 && c.method !== 'HEAD') {
          if (!/json/.test(answer.contentType) || !body || typeof body.message !== 'string' || body.message === '') {
            problems.push(`${answer.status} without a JSON message: ${answer.contentType} ${answer.text.slice(0, 120)}`);
          }
        }
        const isIngestAnswer = c.method === 'POST' && c.path === '/ingest' && (answer.status === 200 || answer.status === 422);
        const accepted = isIngestAnswer && body && typeof body.accepted === 'number' ? body.accepted : 0;
        if (isIngestAnswer && typeof body?.accepted !== 'number') problems.push(`${answer.status} without "accepted": ${answer.text.slice(0, 120)}`);
        if (added !== accepted) problems.push(`partial write: ${added} records added, answer ${answer.status} says accepted ${accepted}`);
        acceptedTotal += accepted;
        if (answer.status === 422 && (body?.status !== 'rejected' || accepted !== 0)) problems.push(`422 with status ${String(body?.status)} and accepted ${accepted}`);
        if (c.transaction && isIngestAnswer) {
          transactions++;
          if (typeof body?.rejected === 'number' && body.rejected > 0) {
            transactionsRejected++;
            if (answer.status !== 422 || added !== 0) problems.push(`transaction Bundle with ${body.rejected} rejected entries: ${answer.status}, ${added} records added`);
          }
        }
      } else if (added !== 0) {
        problems.push(`no answer but ${added} records added`);
      }
      for (const problem of problems) {
        failures.push({ i, label: c.label, problem, request: `${c.method} ${c.path.slice(0, 100)} ${JSON.stringify(c.headers).slice(0, 200)} body[${c.body?.length ?? 0}] ${c.body?.subarray(0, VERBOSE ? 600 : 160).toString('utf8') ?? ''}` });
      }
    }

    // The store as a whole: every stored row belongs to a batch that counted it; the ledger verifies.
    const sum = Number((await t.gateway.db.knex('ingest_batches').sum<{ s: string | number | null }[]>('accepted as s'))[0]!.s ?? 0);
    const stored = await countRecords();
    const orphanBatches = Number((await t.gateway.db.knex('ingest_batches').whereNull('ledger_seq').count<{ c: string | number }[]>('* as c'))[0]!.c);
    const report = await verifyLedger(t.gateway.db);
    const seconds = (Date.now() - started) / 1000;
    const summary = `seed ${SEED}: ${N} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; `
      + `${acceptedTotal} records accepted (${stored} stored); ${transactions} transaction Bundles answered, ${transactionsRejected} with rejected entries; ledger ${report.entries} entries`;
    if (process.env.HGD_FUZZ_SUMMARY === '1') console.log(`      ${summary}`);

    if (failures.length) {
      // Group by kind of problem, so one bug does not hide another.
      const groups = new Map<string, typeof failures>();
      for (const f of failures) {
        const key = f.problem.replace(/:.*$/s, '').replace(/(?<=\s)\d+/g, 'N');
        groups.set(key, [...(groups.get(key) ?? []), f]);
      }
      const lines = [...groups].map(([key, fs_]) => `  ${fs_.length}× ${key}\n${fs_.slice(0, SHOW).map((f) => `      #${f.i} ${f.label}\n        ${f.problem.slice(0, 200)}\n        ${f.request}`).join('\n')}`);
      assert.fail(`fuzzing found ${failures.length} failures in ${groups.size} groups (${summary}).\nReplay: HGD_FUZZ_SEED=${SEED} HGD_FUZZ_N=${N} npx mocha test/fuzz-ingest.test.ts\n${lines.join('\n')}`);
    }
    assert.equal(stored, sum, 'the batches\' accepted counts add up to the stored rows');
    assert.equal(orphanBatches, 0, 'every batch has its ledger entry');
    assert.equal(report.ok, true, `ledger: ${JSON.stringify(report.damage)} (seed ${SEED})`);
    assert.ok(acceptedTotal > 0 && transactionsRejected > 0, `the fuzzer reached the store and the all-or-nothing path (${summary})`);
  });

  it('a CSV without a source_id column: row 1 of a second upload is new data, not a duplicate of row 1 of the first', async () => {
    const header = 'patient_id,code_system,code,value,unit,effective_start,effective_end\n';
    const first = await t.request('POST', '/ingest', { token: tokens.provider2, contentType: 'text/csv', body: `${header}CSV-A,http://loinc.org,8867-4,72,/min,2021-01-01T00:00:00Z,\n` });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.accepted, 1);
    const second = await t.request('POST', '/ingest', { token: tokens.provider2, contentType: 'text/csv', body: `${header}CSV-B,http://loinc.org,8867-4,80,/min,2021-02-01T00:00:00Z,\n` });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual([second.body.accepted, second.body.duplicate], [1, 0], 'another patient\'s value at another time was dropped as a "duplicate"');
  });
});
