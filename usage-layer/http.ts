/** All HTTP routes of the usage layer. */
import { Router } from 'express';
import { consentRouter } from './consent/http';
import { queryRouter } from './queries/http';
import { careRouter } from './care/http';
import type { UsageServices } from './services';

export function usageRouter(services: UsageServices): Router {
  const router = Router();
  router.use(consentRouter(services.studies, services.consents));
  router.use(queryRouter(services.queries, (patient) => services.care.accessLog(patient)));
  router.use(careRouter(services.care));
  return router;
}
