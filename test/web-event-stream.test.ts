import { strict as assert } from 'node:assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { follow, parseEvents, type StreamEvent } from '../web/src/event-stream';

/**
 * The web app's SSE reader (web/src/event-stream.ts): it parses events split across chunks, sends
 * the token as a Bearer header (EventSource cannot), and after a drop resumes with Last-Event-ID.
 */
describe('web app: the alert stream reader', () => {
  it('parses complete events, keeps an incomplete one for the next chunk, skips comments, joins data lines', () => {
    const first = parseEvents('retry: 2000\n\n: keepalive\n\nid: 7\nevent: alert\ndata: {"a":\ndata: 1}\n\nid: 8\nevent: al');
    assert.deepEqual(first.events, [{ id: '7', event: 'alert', data: '{"a":\n1}' }]);
    const second = parseEvents(first.rest + 'ert\r\ndata: x\r\n\r\n');
    assert.deepEqual(second.events, [{ id: '8', event: 'alert', data: 'x' }]);
    assert.equal(second.rest, '');
  });

  it('sends the token as a Bearer header and resumes after a drop from the last event id, so nothing is missed or repeated', async function () {
    this.timeout(10_000);
    const seen: Array<{ auth?: string; lastId?: string }> = [];
    const server = http.createServer((req, res) => {
      seen.push({ auth: req.headers.authorization, lastId: req.headers['last-event-id'] as string | undefined });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The first connection sends two events and drops; the next sends what came after its Last-Event-ID.
      if (seen.length === 1) res.end('id: 1\nevent: alert\ndata: one\n\nid: 2\nevent: alert\ndata: two\n\n');
      else res.write(`id: ${Number(req.headers['last-event-id']) + 1}\nevent: alert\ndata: three\n\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const store = new Map([['hgd.token', 'tok-1']]);
    Object.assign(globalThis, { sessionStorage: { getItem: (k: string) => store.get(k) ?? null } });
    const abort = new AbortController();
    const events: StreamEvent[] = [];
    const states: boolean[] = [];
    const done = new Promise<void>((resolve) => {
      void follow(`http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts/stream`, '0', {
        onEvent: (e) => { events.push(e); if (events.length === 3) resolve(); },
        onState: (connected) => states.push(connected),
      }, abort.signal);
    });
    try {
      await done;
    } finally {
      abort.abort();
      server.closeAllConnections();
      server.close();
      delete (globalThis as { sessionStorage?: unknown }).sessionStorage;
    }
    assert.deepEqual(events.map((e) => [e.id, e.data]), [['1', 'one'], ['2', 'two'], ['3', 'three']]);
    assert.deepEqual(seen, [{ auth: 'Bearer tok-1', lastId: '0' }, { auth: 'Bearer tok-1', lastId: '2' }]);
    assert.deepEqual(states, [true, false, true], 'connected, dropped, connected again');
  });
});
