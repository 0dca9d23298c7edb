/** The usage layer's services, built once by the composition root. */
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import type { Coordinator } from './coordinator';
import { ConsentService } from './consent/grants';
import { StudyService, type StudyDefaults } from './consent/studies';
import { QueryService, type QueryServiceOptions } from './queries/query-service';

export interface UsageOptions extends QueryServiceOptions, StudyDefaults {}

export const DEFAULT_USAGE_OPTIONS: UsageOptions = Object.freeze({
  defaultEpsilon: 1,
  minEpsilon: 0.01,
  maxEpsilon: 5,
  minCohort: 10,
  epsilonBudget: 10,
});

export interface UsageServices {
  studies: StudyService;
  consents: ConsentService;
  queries: QueryService;
  /** Waits for running queries and refuses new ones. */
  close(): Promise<void>;
}

export function createUsageServices(deps: { db: Database; ledger: Ledger; coordinator: Coordinator; options?: Partial<UsageOptions> }): UsageServices {
  const options: UsageOptions = { ...DEFAULT_USAGE_OPTIONS, ...deps.options };
  const studies = new StudyService(deps.db, deps.ledger, { minCohort: options.minCohort, epsilonBudget: options.epsilonBudget });
  const consents = new ConsentService(deps.db, deps.ledger);
  const queries = new QueryService(deps.db, deps.ledger, deps.coordinator, studies, consents, options);
  return { studies, consents, queries, close: () => queries.close() };
}
