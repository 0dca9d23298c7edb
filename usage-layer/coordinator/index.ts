export { createCoordinator, type AggregateKind, type AggregateQuery, type AggregateResult, type ByteCounts, type Coordinator, type CoordinatorOptions, type HistogramResult } from './coordinator';
export { InsufficientNodesError, MpcProtocolError, NodesOutOfSyncError } from './errors';
