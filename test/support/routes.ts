/** Every route an express app has, found by walking its router stack (routers are mounted at "/"). */
export interface Route {
  method: string;
  path: string;
}

export function listRoutes(app: unknown): Route[] {
  const out: Route[] = [];
  const walk = (stack: unknown[], prefix: string) => {
    for (const layer of stack as Array<{ route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] }; rawPath?: string }>) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push({ method: method.toUpperCase(), path: prefix + layer.route.path });
      } else if (layer.handle?.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk((app as { router: { stack: unknown[] } }).router.stack, '');
  return out;
}
