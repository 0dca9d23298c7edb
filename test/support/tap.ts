/**
 * An HTTP proxy in front of one compute node: every request to the node (from the gateway or a peer)
 * passes it, is recorded with its answer (a passive tap of the link) and can be acted on before it is
 * forwarded or before its answer is passed back: dropped (the connection is cut), or used as the
 * moment to kill the node. `tapCluster` puts one in front of every node of a cluster, for the
 * coordinator and the peers alike. Bodies are recorded as they crossed the link (sealed to their
 * recipients); `plainRequest` and `plainAnswer` open them with the parties' private keys, which the
 * test holds and an observer of the link does not.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { LocalCluster } from '../../app/local-cluster';
import type { Config } from '../../config';
import { openExchange, privateKeys } from './parties';

/** One request as it crossed the link, and its answer once it came back. */
export interface Exchange {
  /** The node the request was for (1-based). */
  node: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  status?: number;
  responseHeaders?: Record<string, string>;
  responseBody?: string;
}

/**
 * What to do with a request before it is forwarded ('request'), or with its answer before it is
 * passed back ('answer'): forward it, drop it (cut the connection), or hold it (never answer, as a
 * node that hangs; the connection stays open until the tap closes).
 */
export type TapAction = 'forward' | 'drop' | 'hold';
export type TapHook = (x: Exchange, phase: 'request' | 'answer') => TapAction | Promise<TapAction>;

export interface NodeTap {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

function flatHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** Forwards one recorded request to the node and its answer back; a broken upstream cuts the client. */
function forward(target: URL, x: Exchange, body: Buffer, req: http.IncomingMessage, res: http.ServerResponse, hook?: TapHook): void {
  const cut = () => req.socket.destroy();
  const up = http.request({ host: target.hostname, port: Number(target.port), method: x.method, path: x.path, headers: req.headers, agent: false }, (answer) => {
    answer.on('error', cut);
    void (async () => {
      const buf = await readBody(answer);
      x.status = answer.statusCode;
      x.responseHeaders = flatHeaders(answer.headers);
      x.responseBody = buf.toString('utf8');
      const action = hook ? await hook(x, 'answer') : 'forward';
      if (action === 'drop') return cut();
      if (action === 'hold') return;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.end(buf);
    })().catch(cut);
  });
  up.on('error', cut);
  up.end(body);
}

/** A tap in front of node `node` at `target`; `hook` sees each request first; `log` gets every exchange too. */
export async function startTap(node: number, target: string, hook?: TapHook, log?: Exchange[]): Promise<NodeTap> {
  const upstream = new URL(target);
  const exchanges: Exchange[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const x: Exchange = { node, method: req.method ?? 'GET', path: req.url ?? '/', headers: flatHeaders(req.headers), body: body.toString('utf8') };
      exchanges.push(x);
      log?.push(x);
      const action = hook ? await hook(x, 'request') : 'forward';
      if (action === 'drop') req.socket.destroy();
      if (action === 'forward') forward(upstream, x, body, req, res, hook);
    })().catch(() => req.socket.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

export interface TappedCluster {
  taps: NodeTap[];
  /** The cluster's config with every node's URL replaced by its tap (for a coordinator or a distributor). */
  config: Config;
  /** Every exchange on every link, in the order the requests arrived. */
  exchanges(): Exchange[];
  /** The request body of `x` in clear (opened with its recipient's key). */
  plainRequest(x: Exchange): string;
  /** The answer body of `x` in clear (opened with the asking party's key); undefined before it came back. */
  plainAnswer(x: Exchange): string | undefined;
  close(): Promise<void>;
}

/** Puts a tap in front of every node: the peers' round messages and the coordinator's requests pass them. */
export async function tapCluster(tc: { cluster: LocalCluster; config: Config }, hook?: TapHook): Promise<TappedCluster> {
  const urls = tc.config.nodes.urls;
  const all: Exchange[] = [];
  const taps = await Promise.all(urls.map((url, i) => startTap(i + 1, url, hook, all)));
  const tapped = taps.map((t) => t.url);
  for (const node of tc.cluster.nodes) node.setPeerUrls(tapped);
  const keys = privateKeys(tc.config);
  return {
    taps,
    config: { ...tc.config, nodes: { ...tc.config.nodes, urls: tapped } },
    exchanges: () => all,
    plainRequest: (x) => openExchange(x, keys).request,
    plainAnswer: (x) => openExchange(x, keys).answer,
    async close() {
      for (const node of tc.cluster.nodes) node.setPeerUrls([...urls]);
      await Promise.all(taps.map((t) => t.close()));
    },
  };
}
