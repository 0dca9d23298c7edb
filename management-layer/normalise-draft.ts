/** What the FHIR and CSV normalisers share: the failure of one entry, and the last check of a draft. */
import { PLACEHOLDER_PSEUDONYM, draftToRecord, validateIcsRecord, type IcsRecordDraft } from './ics-record';

/** One entry cannot be normalised: `pointer` is relative to the entry. */
export class EntryFailure extends Error {
  constructor(readonly pointer: string, readonly reason: string) {
    super(reason);
  }
}

/** The draft, once it passes the record schema and the catalogue as a record would; throws EntryFailure. */
export function checkedDraft(draft: IcsRecordDraft): IcsRecordDraft {
  const issues = validateIcsRecord(draftToRecord(draft, PLACEHOLDER_PSEUDONYM));
  const first = issues[0];
  if (first) throw new EntryFailure('', `normalised record is invalid: ${first.pointer} ${first.reason}`);
  return draft;
}
