import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../config';

const created: string[] = [];
// Test data folders are removed when the test process ends.
process.on('exit', () => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

/** A Config with its own temporary data folder, built from the given environment overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-test-'));
  created.push(dataDir);
  return loadConfig({ HGD_DATA_DIR: dataDir, HGD_CHECKPOINT_EVERY: '10', ...env });
}
