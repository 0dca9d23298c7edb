/**
 * The compute node as the usage layer defines it: its share store, its service (storing shares,
 * aggregates, the rounds of the product and noise protocols) and its routes. The process around it
 * (keys, database, express app, listening) is composed in app/compute-node.ts.
 */
export { computeNodeRouter, type NodeRouteOptions } from './routes';
export { ComputeNodeService, type ComputeNodeServiceDeps } from './service';
export { nodeMigrations, NODE_TABLES } from './migrations';
