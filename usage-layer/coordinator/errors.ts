/** Typed errors of the MPC coordinator (HTTP statuses for an API layer). */
import { HgdError } from '../../storage-layer/errors';

/** Too few compute nodes answered for this kind of query (t + 1 for linear, 2t + 1 for products). */
export class InsufficientNodesError extends HgdError {
  constructor(
    message: string,
    readonly needed: number,
    readonly available: number[],
    readonly down: number[],
  ) {
    super(message, 'insufficient_nodes');
  }
}

/**
 * The nodes that answered do not hold the same records/dealings (a node missed a delivery that is
 * still in the gateway's outbox), and no t + 1 of them agree.
 */
export class NodesOutOfSyncError extends HgdError {
  constructor(
    message: string,
    readonly groups: number[][],
  ) {
    super(message, 'nodes_out_of_sync');
  }
}

/** A node failed in the middle of an interactive protocol (product or noise). */
export class MpcProtocolError extends HgdError {
  constructor(
    message: string,
    readonly node: number,
  ) {
    super(message, 'mpc_failed');
  }
}
