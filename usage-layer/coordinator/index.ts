export { createCoordinator } from './coordinator';
export type { AggregateKind, AggregateNoise, AggregateQuery, AggregateResult, ByteCounts, Coordinator, CoordinatorOptions, HistogramResult, SearchRound } from './types';
export { InsufficientNodesError, MpcProtocolError, NodesOutOfSyncError } from './errors';
