export { createCoordinator } from './coordinator';
export type { AggregateKind, AggregateNoise, AggregateQuery, AggregateResult, ByteCounts, Coordinator, CoordinatorOptions, HistogramResult } from './types';
export { InsufficientNodesError, MpcProtocolError, NodesOutOfSyncError } from './errors';
