import type { Operator, Operators, Session, Sessions, WidgetClaims } from '@rampart/core';
import { normaliseOrigin } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearer } from './auth.ts';
import type { RateLimiter } from './rate-limit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    widget: { session: Session; claims: WidgetClaims };
  }
}

/**
 * A browser calling the widget API from a page: Rampart's own widget page, or a page
 * of the operator whose origin is on its allowlist. Anything else is refused.
 *
 * Rampart's own origin is `RAMPART_PUBLIC_URL`'s when set, and in any case the origin
 * the request was addressed to: a browser names the page's origin in `Origin` and the
 * server it calls in `Host`, so the two agree only for a page served by this server
 * (its widget), whatever name it is reached by. A non-browser client can forge both,
 * but could as well send no `Origin` at all: this check only ever protects browsers.
 */
export async function checkWidgetOrigin(
  request: FastifyRequest,
  operatorId: string,
  ownOrigin: () => string | undefined,
  operators: Operators,
): Promise<void> {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const normalised = normaliseOrigin(origin);
  if (normalised !== null && (normalised === ownOrigin() || normalised === addressedTo(request))) return;
  const operator: Operator = await operators.get(operatorId);
  if (normalised === null || !operator.origin_allowlist.includes(normalised)) {
    throw new RampartError('origin_not_allowed', { origin });
  }
}

/** The origin a request was sent to (`trustProxy` decides whether a proxy's word on the scheme counts). */
function addressedTo(request: FastifyRequest): string | null {
  return normaliseOrigin(`${request.protocol}://${request.host}`);
}

/** Widget API authentication: a short-lived widget token of an open session. */
export function requireWidgetSession(
  app: FastifyInstance,
  deps: { sessions: Sessions; operators: Operators; limiter: RateLimiter; ownOrigin: () => string | undefined },
): void {
  app.decorateRequest('widget', null as unknown as FastifyRequest['widget']);
  app.addHook('onRequest', async (request) => {
    const widget = await deps.sessions.authenticate(bearer(request));
    await checkWidgetOrigin(request, widget.session.operator_id, deps.ownOrigin, deps.operators);
    deps.limiter.take(widget.session.id);
    request.widget = widget;
  });
}

/**
 * Where a provider's page (bank login, 3-D Secure, identity check) sends a widget user
 * back: the session's redirect URL, which the operator set, or another URL on its
 * origin that the widget asks for. Nowhere else: the widget speaks for an end user, and
 * the operator's flow must not become a redirect to wherever a request names.
 */
export function widgetReturnUrl(session: Session, asked: string | undefined): string | null {
  if (asked === undefined) return session.redirect_url;
  const origin = session.redirect_url ? new URL(session.redirect_url).origin : null;
  if (origin === null || !URL.canParse(asked) || new URL(asked).origin !== origin) {
    throw new RampartError('invalid_value', {
      field: 'return_url',
      provided: asked.slice(0, 200),
      expected: origin ? `a URL on ${origin}, the session's redirect_url` : 'none: the session has no redirect_url',
    });
  }
  return asked;
}
