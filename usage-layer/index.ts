/**
 * The usage layer as the gateway sees it: migrations, services and routes for studies, patients'
 * per-indicator grants (and their FHIR Consent form), researchers' queries with disclosure control,
 * and patients' access logs.
 */
export { usageMigrations } from './migrations';
export { createUsageServices, type UsageOptions, type UsageServices } from './services';
export { usageRouter } from './http';
