/**
 * Server-Sent Events over fetch. EventSource cannot send an Authorization header, and the gateway
 * authenticates /alerts/stream like every route (a Bearer token), so this reads the stream with
 * fetch and parses the events itself. It resumes after a drop with `Last-Event-ID` (the id of the
 * last event seen), which the gateway answers with what came after it, none twice.
 */
import { ApiFailure, failureOf } from './failure';
import { currentToken } from './session';

export interface StreamEvent { id: string | null; event: string; data: string }

/** Parses complete events out of `buffer`; returns them and what is left (an incomplete event). */
export function parseEvents(buffer: string): { events: StreamEvent[]; rest: string } {
  const blocks = buffer.replace(/\r\n?/g, '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  const events: StreamEvent[] = [];
  for (const block of blocks) {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const at = line.indexOf(':');
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) events.push({ id, event, data: data.join('\n') });
  }
  return { events, rest };
}

export interface StreamHandlers {
  onEvent: (e: StreamEvent) => void;
  /** Connected (true) or dropped and retrying (false), with a reason in words. */
  onState: (connected: boolean, reason?: string) => void;
}

async function readOnce(path: string, lastId: string, h: StreamHandlers, signal: AbortSignal): Promise<string> {
  const headers: Record<string, string> = { accept: 'text/event-stream', 'last-event-id': lastId };
  const token = currentToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, signal });
  if (!res.ok || !res.body) throw failureOf(res.status, await res.text());
  h.onState(true);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return lastId;
    const parsed = parseEvents(buffer + value);
    buffer = parsed.rest;
    for (const e of parsed.events) {
      if (e.id !== null) lastId = e.id;
      h.onEvent(e);
    }
  }
}

/** Follows the stream until `signal` aborts, reconnecting 2 s after a drop (not after a refusal: 4xx). */
export async function follow(path: string, lastId: string, h: StreamHandlers, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      lastId = await readOnce(path, lastId, h, signal);
      if (!signal.aborted) h.onState(false, 'The live connection closed; reconnecting.');
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiFailure && err.status >= 400 && err.status < 500) return h.onState(false, err.message);
      h.onState(false, 'The live connection dropped; reconnecting.');
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
