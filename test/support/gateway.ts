import { createGateway, type Gateway, type GatewayOptions } from '../../app/gateway';
import type { Identity } from '../../storage-layer/http-identity';
import { openTestDatabase } from './db';
import { testConfig } from './config';
import type { Config } from '../../config';
import { serve } from './http';

export interface TestGateway {
  gateway: Gateway;
  /** The gateway's configuration (data folder, keys), for a second gateway or an admin command on the same deployment. */
  config: Config;
  url: string;
  token(identity: Identity): Promise<string>;
  /** A patient's token, from the identifier a provider uses for them. */
  patientToken(system: string, value: string): Promise<string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON came back
  request(method: string, path: string, opts?: { token?: string; body?: string | Buffer; contentType?: string }): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

/** A gateway on a test database; by default without compute nodes (values wait in the outbox). */
export async function startTestGateway(env: Record<string, string> = {}, options: Pick<GatewayOptions, 'shareSink' | 'coordinator'> = { shareSink: null }): Promise<TestGateway> {
  const db = await openTestDatabase();
  const config = testConfig({ HGD_LOG: 'silent', ...env });
  const gateway = await createGateway(config, { db, ...options });
  const server = await serve(gateway.app);
  const token = (identity: Identity) => gateway.tokens.issue(identity);
  return {
    gateway,
    config,
    url: server.url,
    token,
    patientToken: (system, value) => token({ role: 'patient', sub: gateway.ingest.pseudonymOf(system, value) }),
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.contentType) headers['content-type'] = opts.contentType;
      const res = await fetch(server.url + path, { method, headers, body: opts.body });
      const text = await res.text();
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      return { status: res.status, body, text };
    },
    async close() {
      await server.close();
      await gateway.close();
      await db.close();
    },
  };
}
