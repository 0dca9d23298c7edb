/** Errors of care sharing. */
import { HgdError } from '../../storage-layer/errors';

/**
 * A provider without an active treatment grant covering what it asked for. The message is one
 * constant: the answer is the same whether or not the patient or any records exist.
 */
export class NoTreatmentGrantError extends HgdError {
  constructor() {
    super('no active treatment grant of this patient covers these indicators for your organisation; in an emergency, state a reason in the X-Break-Glass-Reason header', 'no_treatment_grant');
  }
}
