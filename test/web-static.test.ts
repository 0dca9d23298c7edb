import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import helmet from 'helmet';
import { webAppRouter, NOT_BUILT_MESSAGE } from '../app/static';
import { notFoundHandler } from '../app/errors-middleware';
import { serve } from './support/http';

/** The gateway's static mount (app/static.ts) on its own: a build served with its fallback, and a missing build said in words. */
describe('web app static mount', () => {
  const dirs: string[] = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  async function serveDist(dist: string) {
    const app = express();
    app.use(helmet());
    app.get('/health', (_req, res) => { res.json({ status: 'ok' }); });
    app.use(webAppRouter(dist));
    app.use(notFoundHandler);
    return serve(app);
  }

  it('without a build, / answers 503 with how to build it (no stack), and the API is untouched', async () => {
    const missing = path.join(os.tmpdir(), `hgd-no-dist-${process.pid}`);
    const server = await serveDist(missing);
    try {
      for (const accept of ['text/html', '*/*']) {
        const r = await fetch(server.url + '/', { headers: { accept } });
        assert.equal(r.status, 503);
        assert.equal((await r.text()).trim(), NOT_BUILT_MESSAGE);
      }
      const page = await fetch(server.url + '/patients', { headers: { accept: 'text/html' } });
      assert.equal(page.status, 503, 'a page the browser opens says the same');
      const api = await fetch(server.url + '/nothing-here');
      assert.equal(api.status, 404);
      assert.equal(((await api.json()) as { error: string }).error, 'not_found');
      assert.equal((await fetch(server.url + '/health')).status, 200);
    } finally {
      await server.close();
    }
  });

  it('serves the files, index.html for page paths, hashed assets as immutable, and never index.html to an API client', async () => {
    const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-dist-'));
    dirs.push(dist);
    fs.mkdirSync(path.join(dist, 'assets'));
    fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><div id="app"></div>');
    fs.writeFileSync(path.join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
    const server = await serveDist(dist);
    try {
      const home = await fetch(server.url + '/');
      assert.equal(home.status, 200);
      assert.match(await home.text(), /id="app"/);
      assert.equal(home.headers.get('cache-control'), 'no-cache');
      const asset = await fetch(server.url + '/assets/index-abc123.js');
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
      assert.match(asset.headers.get('content-security-policy') ?? '', /script-src 'self'/, 'helmet’s policy applies to the app');
      const deep = await fetch(server.url + '/researcher/queries', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
      assert.equal(deep.status, 200);
      assert.match(await deep.text(), /id="app"/);
      const json = await fetch(server.url + '/researcher/queries', { headers: { accept: 'application/json' } });
      assert.equal(json.status, 404);
      const post = await fetch(server.url + '/', { method: 'POST', headers: { accept: 'text/html' } });
      assert.equal(post.status, 404, 'only GET and HEAD load the app');
      const missingAsset = await fetch(server.url + '/assets/gone.js');
      assert.equal(missingAsset.status, 404, 'a missing asset is a 404, not the page');
    } finally {
      await server.close();
    }
  });
});
