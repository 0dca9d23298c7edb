/**
 * The web app's build: `vite build web` (npm run build:web, run by `npm install` through `prepare`)
 * writes web/dist, which the gateway serves at / (app/static.ts). No CDN: every asset is bundled.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 600 },
});
