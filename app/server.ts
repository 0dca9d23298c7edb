/** Starts the gateway's HTTP server and shuts it down cleanly on SIGINT/SIGTERM. */
import type { Server } from 'node:http';
import type { Config } from '../config';
import { createGateway, type Gateway } from './gateway';

export async function startServer(config: Config): Promise<{ gateway: Gateway; server: Server }> {
  const gateway = await createGateway(config);
  const server = gateway.app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  gateway.log.info(`gateway listening on http://${config.host}:${config.port} (database: ${gateway.db.kind})`);
  const stop = async () => {
    server.close();
    await gateway.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return { gateway, server };
}
