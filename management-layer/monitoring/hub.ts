/** In-process fan-out of committed alerts to live subscribers (Server-Sent Events), by recipient. */
import type { Alert } from './alerts';

export type AlertListener = (alert: Alert) => void;

export class AlertHub {
  private readonly byRecipient = new Map<string, Set<AlertListener>>();

  subscribe(recipient: string, listener: AlertListener): () => void {
    const set = this.byRecipient.get(recipient) ?? new Set<AlertListener>();
    set.add(listener);
    this.byRecipient.set(recipient, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.byRecipient.delete(recipient);
    };
  }

  publish(alert: Alert): void {
    for (const recipient of alert.recipients) for (const listener of this.byRecipient.get(recipient) ?? []) listener(alert);
  }
}
