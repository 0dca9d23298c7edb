/** The usage layer's services, built once by the composition root. */
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import type { Coordinator } from './coordinator';
import { ConsentService } from './consent/grants';
import { StudyService, type StudyDefaults } from './consent/studies';
import { QueryService, type QueryServiceOptions } from './queries/query-service';
import { CareService, type RecordReader } from './care/care-service';

/** The privacy parameters come from config.usage (config.ts), plus a log sink. */
export interface UsageOptions extends QueryServiceOptions, StudyDefaults {}

export interface UsageServices {
  studies: StudyService;
  consents: ConsentService;
  queries: QueryService;
  /** Providers' reads under treatment grants (and break-the-glass). */
  care: CareService;
  /** Waits for running queries and refuses new ones. */
  close(): Promise<void>;
}

export function createUsageServices(deps: { db: Database; ledger: Ledger; coordinator: Coordinator; records: RecordReader; options: UsageOptions }): UsageServices {
  const options = deps.options;
  const studies = new StudyService(deps.db, deps.ledger, { minCohort: options.minCohort, epsilonBudget: options.epsilonBudget, maxContributions: options.maxContributions });
  const consents = new ConsentService(deps.db, deps.ledger);
  const queries = new QueryService(deps.db, deps.ledger, deps.coordinator, studies, consents, options);
  const care = new CareService(deps.db, deps.ledger, consents, deps.records);
  return { studies, consents, queries, care, close: () => queries.close() };
}
