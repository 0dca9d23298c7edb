/** Errors of the ledger's integrity checks (subclasses of HgdError, see errors.ts). */
import { HgdError } from './errors';
import type { Damage } from './verify/damage';

/**
 * The ledger holds a row this writer did not write and cannot vouch for (a wrong hash, a broken
 * chain link), or its head changed under it. Writes are refused until an operator restores the
 * ledger (docs/operations.md); reads go on.
 */
export class LedgerIntegrityError extends HgdError {
  constructor(readonly damage: Damage) {
    super(`the ledger is damaged at entry ${damage.seq} (${damage.kind}: ${damage.detail}); writes are refused until an operator restores it to the last witnessed checkpoint (docs/operations.md)`, 'ledger_damaged');
  }
}
