/**
 * The keys the auditor's page trusts. The gateway reports its configured log key and witnesses
 * beside each checkpoint; an auditor compares them with the ones published out of band and pins
 * them (kept in this browser's localStorage), or pastes a trust file (the format of
 * `hgd ledger verify --trust`). Until then the page verifies with the reported keys and says so.
 */
import { trustFromFile, type Trust, type TrustFile } from '../../../storage-layer/verify/trust';

const KEY = 'hgd.auditor.trust';
const SEEN = 'hgd.auditor.lastCheckpoint';

export interface ReportedCheckpoint {
  origin: string;
  treeSize: number;
  note: string;
  signedAt: string;
  publicKey: string | null;
  witnesses: Array<{ name: string; publicKey: string }>;
  quorum: number;
}

export function reportedTrust(c: ReportedCheckpoint): TrustFile {
  return { origin: c.origin, logKeys: c.publicKey ? [c.publicKey] : [], witnesses: c.witnesses, quorum: c.quorum };
}

export function pinnedTrust(): TrustFile | null {
  const raw = localStorage.getItem(KEY);
  return raw ? (JSON.parse(raw) as TrustFile) : null;
}

/** Parses and checks a trust file, then pins it; throws with the reason. */
export function pinTrust(file: TrustFile): Trust {
  const trust = trustFromFile(file);
  localStorage.setItem(KEY, JSON.stringify(file));
  return trust;
}

export function unpinTrust(): void {
  localStorage.removeItem(KEY);
}

/** The last checkpoint this browser verified: the start of the next consistency check. */
export function lastSeenCheckpoint(): { note: string; treeSize: number; signedAt: string } | null {
  const raw = localStorage.getItem(SEEN);
  return raw ? (JSON.parse(raw) as { note: string; treeSize: number; signedAt: string }) : null;
}

export function rememberCheckpoint(c: { note: string; treeSize: number; signedAt: string }): void {
  localStorage.setItem(SEEN, JSON.stringify({ note: c.note, treeSize: c.treeSize, signedAt: c.signedAt }));
}
