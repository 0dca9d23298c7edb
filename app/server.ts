/**
 * Starts the gateway's HTTP server (and, by default, its compute nodes), creates the first
 * administrator when there is none (admin-bootstrap.ts), and stops cleanly on SIGINT/SIGTERM.
 */
import type { Server } from 'node:http';
import type { Config } from '../config';
import { createGateway, type Gateway } from './gateway';
import { createLogger } from './logger';
import { bootstrapAdmin } from './admin-bootstrap';
import { spawnComputeNodes } from './compute-node-processes';

export async function startServer(config: Config, options: { withNodes?: boolean } = {}): Promise<{ gateway: Gateway; server: Server }> {
  const log = createLogger('hgd', config.logLevel === 'silent');
  const nodes = options.withNodes === false ? null : await spawnComputeNodes(config, log);
  const gateway = await createGateway(config, { log });
  await bootstrapAdmin(gateway.identity, config.auth, log);
  const server = gateway.app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  log.info(`gateway listening on http://${config.host}:${config.port} (database: ${gateway.db.kind})`);
  const stop = async () => {
    server.close();
    await gateway.close();
    await nodes?.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return { gateway, server };
}
