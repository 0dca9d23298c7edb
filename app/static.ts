/**
 * The web app (web/, built by `npm run build:web`, which `npm install` runs) served at `/`: its
 * files as they are, and index.html for any other GET a browser navigates to (one that prefers
 * HTML over JSON), so the app's own paths load it. Mounted after every API route: the JSON API
 * answers first and unchanged, and an API client (asking for JSON, or for anything) still gets the
 * JSON 404. Without a build, `/` says how to make one instead of failing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type Request } from 'express';

/** web/dist beside the repository's app/ folder. */
export const DEFAULT_WEB_DIST = fileURLToPath(new URL('../web/dist', import.meta.url));

export const NOT_BUILT_MESSAGE = 'The HGD web app has not been built. Run `npm run build:web` (npm install runs it), then reload this page. The JSON API works without it.';

/** A browser navigating (it prefers HTML over JSON), not an API client. */
function wantsPage(req: Request): boolean {
  return req.accepts(['json', 'html']) === 'html';
}

export function webAppRouter(distDir: string = DEFAULT_WEB_DIST): Router {
  const router = Router();
  const index = path.join(distDir, 'index.html');
  router.use(express.static(distDir, {
    // Vite names assets by their content hash: a new build gets new names, so they may be kept.
    setHeaders: (res, file) => res.set('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache'),
  }));
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path !== '/' && !wantsPage(req)) return next();
    if (!fs.existsSync(index)) {
      res.status(503).type('text/plain').send(`${NOT_BUILT_MESSAGE}\n`);
      return;
    }
    res.set('cache-control', 'no-cache').sendFile(index);
  });
  return router;
}
