import type { FastifyInstance, RouteOptions } from 'fastify';

type Hooks = Pick<RouteOptions, 'preValidation' | 'preHandler' | 'onSend'>;

/**
 * Adds hooks to the POST routes registered after this call (in this plugin and its
 * children) rather than to every request: reads, which are most of the traffic
 * (polling), do not pay for what only writes need.
 */
export function onPostRoutes(app: FastifyInstance, hooks: Hooks): void {
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST')) return;
    for (const [name, hook] of Object.entries(hooks) as [keyof Hooks, unknown][]) {
      const existing = route[name];
      const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
      (route as unknown as Record<string, unknown>)[name] = [...list, hook];
    }
  });
}
