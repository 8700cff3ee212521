import {
  ACTIONS,
  type Action,
  type Compliance,
  computeGates,
  computePermissions,
  enforceGates,
  type Kyc,
  type Operators,
  type Sessions,
  type Terms,
  type Verification,
  type WidgetTokens,
} from '@rampart/core';
import { isRampartError } from '@rampart/errors';
import type { FastifyInstance } from 'fastify';
import { checkWidgetOrigin, widgetReturnUrl } from '../http/widget-auth.ts';

const tokenResponse = {
  type: 'object',
  properties: {
    widget_token: { type: 'string' },
    expires_at: { type: 'string', format: 'date-time' },
    session_id: { type: 'string' },
    session_expires_at: { type: 'string', format: 'date-time' },
  },
  required: ['widget_token', 'expires_at', 'session_id'],
} as const;

interface WidgetDeps {
  sessions: Sessions;
  operators: Operators;
  compliance: Compliance;
  terms: Terms;
  verification: Verification;
  kyc: Kyc;
  widgetTokens: WidgetTokens;
  baseUrl: () => string;
  ownOrigin: () => string | undefined;
}

/** Routes the widget calls without a widget token: the exchange, the email link, the JWKS. */
export function publicWidgetRoutes(app: FastifyInstance, deps: WidgetDeps): void {
  app.post<{ Body: { init_token?: string; operator_token?: string } }>(
    '/widget/v1/session/exchange',
    {
      schema: {
        tags: ['widget'],
        summary: 'Trade a single-use init token, or an operator-signed session token, for a widget token',
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          properties: {
            init_token: { type: 'string', minLength: 1, maxLength: 200 },
            operator_token: { type: 'string', minLength: 1, maxLength: 8192 },
          },
        },
        response: { 200: tokenResponse },
      },
    },
    async (request) => {
      // The Origin is checked before the credential is used up: a page the operator has
      // not allowed cannot spend an init token it got hold of.
      const named = await deps.sessions.operatorOf(request.body);
      if (named) {
        await checkWidgetOrigin(request, named, deps.ownOrigin, deps.operators).catch((error: unknown) => {
          // Only a refused origin answers here; an unknown issuer is the exchange's to answer.
          if (isRampartError(error) && error.code === 'origin_not_allowed') throw error;
        });
      }
      const exchanged = await deps.sessions.exchange(request.body);
      if (exchanged.session.operator_id !== named)
        await checkWidgetOrigin(request, exchanged.session.operator_id, deps.ownOrigin, deps.operators);
      return {
        widget_token: exchanged.token,
        expires_at: exchanged.expiresAt,
        session_id: exchanged.session.id,
        session_expires_at: exchanged.session.expires_at,
      };
    },
  );

  app.get<{ Querystring: { token: string } }>(
    '/widget/v1/email/verify',
    {
      schema: {
        tags: ['widget'],
        summary: 'Where the email verification link lands',
        querystring: { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 200 } } },
      },
    },
    async (request, reply) => {
      await deps.verification.confirmEmail(request.query.token);
      return reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><title>Email verified</title><p>Your email address is verified. You can close this page.</p>',
        );
    },
  );

  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['widget'], summary: 'Public keys of widget tokens' } },
    async () => deps.widgetTokens.jwks(),
  );
}

/** Routes behind a widget token (`requireWidgetSession`). */
export function widgetRoutes(app: FastifyInstance, deps: WidgetDeps): void {
  app.post(
    '/widget/v1/session/refresh',
    {
      schema: {
        tags: ['widget'],
        summary: 'A fresh widget token while the session is open',
        response: { 200: tokenResponse },
      },
    },
    async (request) => {
      const { session } = request.widget;
      const fresh = await deps.sessions.refresh(session);
      return {
        widget_token: fresh.token,
        expires_at: fresh.expiresAt,
        session_id: session.id,
        session_expires_at: session.expires_at,
      };
    },
  );

  app.post(
    '/widget/v1/session/validate',
    { schema: { tags: ['widget'], summary: 'The session with its gates and permissions' } },
    async (request) => {
      const { session } = request.widget;
      const context = await deps.compliance.context(session, request.ip);
      return {
        expiration: session.expires_at,
        // The operator's public id, in either mode (its test tenant's own id is never shown).
        operatorId: (await deps.operators.get(session.operator_id)).account_id,
        mode: session.mode,
        userId: session.user_id,
        session: {
          id: session.id,
          operation: session.operation,
          currency: session.currency,
          network: session.network,
          amount: session.amount,
          locks: session.locks,
          redirect_url: session.redirect_url,
          language: session.language,
          theme: session.theme,
        },
        gates: computeGates(context, session.operation),
        permissions: computePermissions(context),
        location: context.location,
        terms: context.currentTerms,
      };
    },
  );

  app.post<{ Body: { action?: Action; provider?: string } | undefined }>(
    '/widget/v1/actions/check',
    {
      schema: {
        tags: ['widget'],
        summary: 'May the user perform this action (with this provider)? Answers the blocking gate error if not',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { action: { type: 'string', enum: [...ACTIONS] }, provider: { type: 'string', maxLength: 32 } },
        },
      },
    },
    async (request) => {
      const { session } = request.widget;
      const action = request.body?.action ?? session.operation;
      const context = await deps.compliance.context(session, request.ip);
      const providers = enforceGates(context, action, request.body?.provider);
      return { allowed: true, action, providers };
    },
  );

  app.post<{ Body: { version: string } }>(
    '/widget/v1/terms/accept',
    {
      schema: {
        tags: ['widget'],
        summary: 'The user accepts the current terms version',
        body: { type: 'object', required: ['version'], properties: { version: { type: 'string', maxLength: 64 } } },
      },
    },
    async (request) => {
      const { session } = request.widget;
      const user = await deps.terms.accept(session.operator_id, session.user_id, request.body.version);
      return { terms_version: user.terms_version };
    },
  );

  app.post(
    '/widget/v1/email/start',
    { schema: { tags: ['widget'], summary: 'Send an email verification link' } },
    async (request) => {
      const { session } = request.widget;
      return deps.verification.startEmail(
        session.operator_id,
        session.mode,
        session.user_id,
        `${deps.baseUrl()}/widget/v1/email/verify`,
      );
    },
  );

  app.post('/widget/v1/phone/start', { schema: { tags: ['widget'], summary: 'Send an SMS code' } }, async (request) => {
    const { session } = request.widget;
    return deps.verification.startPhone(session.operator_id, session.mode, session.user_id);
  });

  app.post<{ Body: { code: string } }>(
    '/widget/v1/phone/verify',
    {
      schema: {
        tags: ['widget'],
        summary: 'Confirm the SMS code',
        body: { type: 'object', required: ['code'], properties: { code: { type: 'string', pattern: '^[0-9]{6}$' } } },
      },
    },
    async (request) => {
      const { session } = request.widget;
      const user = await deps.verification.confirmPhone(session.operator_id, session.user_id, request.body.code);
      return { phone_verified: user.phone_verified_at !== null };
    },
  );

  app.post<{ Body: { return_url?: string } | undefined }>(
    '/widget/v1/kyc/start',
    {
      schema: {
        tags: ['widget'],
        summary: 'Start identity verification; answers the provider page to send the user to',
        body: { type: 'object', properties: { return_url: { type: 'string', maxLength: 2048 } } },
      },
    },
    async (request) => {
      const { session } = request.widget;
      return deps.kyc.start(
        session.operator_id,
        session.mode,
        session.user_id,
        widgetReturnUrl(session, request.body?.return_url),
      );
    },
  );
}
