/** Typed errors of the parties' transport (codes only; app/error-status.ts maps them to statuses). */
import { HgdError } from '../storage-layer/errors';

/** The request is not signed, signed by an unknown party, badly signed or stale. */
export class RequestAuthError extends HgdError {
  constructor(message: string) {
    super(message, 'unauthenticated');
  }
}

/** An authenticated party called a route that is not for it (a node calling /shares, …). */
export class PartyForbiddenError extends HgdError {
  constructor(message: string) {
    super(message, 'forbidden');
  }
}

/** A signed request failed: the peer answered with an error status, or could not be reached (status 0). */
export class SignedRequestError extends HgdError {
  constructor(
    message: string,
    readonly peerStatus: number,
    readonly peerCode?: string,
  ) {
    super(message, 'peer_request_failed');
  }
}

/** A round's messages did not all arrive in time. */
export class PeerTimeoutError extends HgdError {
  constructor(message: string) {
    super(message, 'peer_timeout');
  }
}

/** A peer node has published no X25519 key in the key directory, so nothing can be sealed to it. */
export class PeerKeyError extends HgdError {
  constructor(message: string) {
    super(message, 'peer_key_missing');
  }
}

/** A query id or a round message that was already used (single use). */
export class DuplicateMessageError extends HgdError {
  constructor(message: string) {
    super(message, 'duplicate_message');
  }
}

/** Too many round messages are waiting for their queries. */
export class InboxFullError extends HgdError {
  constructor(message: string) {
    super(message, 'inbox_full');
  }
}
