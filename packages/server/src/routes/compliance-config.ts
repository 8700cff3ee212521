import type { KeyMode, OperatorSettingsStore, OperatorTokens, SigningKey, Terms } from '@rampart/core';
import { isRampartError, RampartError } from '@rampart/errors';
import { checkEndpointUrl, type NetworkPolicy } from '@rampart/webhooks';
import type { FastifyInstance } from 'fastify';

const presentSigningKey = (key: SigningKey) => ({
  ...key,
  object: 'signing_key',
  status: key.revoked_at ? 'revoked' : 'active',
});

/** Operator configuration of the cashier: settings, terms versions and session-signing keys. */
export function complianceConfigRoutes(
  app: FastifyInstance,
  deps: {
    settings: OperatorSettingsStore;
    terms: Terms;
    operatorTokens: OperatorTokens;
    /** Where a mode's approval and message endpoints may point. */
    hookPolicy: (mode: KeyMode) => NetworkPolicy;
  },
): void {
  app.get(
    '/v1/operator/settings',
    { schema: { tags: ['operator'], summary: 'Cashier settings: gates, jurisdictions, providers, session TTL' } },
    async (request) => deps.settings.get(request.operator.operatorId),
  );

  app.patch<{ Body: Record<string, unknown> }>(
    '/v1/operator/settings',
    {
      schema: {
        tags: ['operator'],
        summary: 'Change cashier settings (only the fields given)',
        body: { type: 'object', maxProperties: 20 },
      },
    },
    async (request) => {
      // Rampart calls these endpoints itself: held to the webhook endpoints' network policy.
      for (const hook of ['approval', 'messages']) {
        const url = (request.body[hook] as { url?: unknown } | null | undefined)?.url;
        if (typeof url !== 'string') continue;
        try {
          await checkEndpointUrl(url, { policy: deps.hookPolicy(request.operator.mode) });
        } catch (error) {
          if (!isRampartError(error) || error.code !== 'invalid_value') throw error;
          throw new RampartError('invalid_value', { ...error.details, field: `${hook}.url` });
        }
      }
      return deps.settings.update(request.operator.operatorId, request.body);
    },
  );

  app.post<{ Body: { version: string; url: string } }>(
    '/v1/terms',
    {
      schema: {
        tags: ['operator'],
        summary: 'Publish a new terms version; every user must accept it',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['version', 'url'],
          properties: { version: { type: 'string', maxLength: 64 }, url: { type: 'string', maxLength: 2048 } },
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await deps.terms.publish(request.operator.operatorId, request.body.version, request.body.url)),
  );

  app.get(
    '/v1/terms/current',
    { schema: { tags: ['operator'], summary: 'The current terms version' } },
    async (request) => ({
      terms: await deps.terms.current(request.operator.operatorId),
    }),
  );

  app.post<{ Body: { jwk: Record<string, unknown> } }>(
    '/v1/signing_keys',
    {
      schema: {
        tags: ['operator'],
        summary: 'Register an Ed25519 public key (JWK with kid) for operator-signed session tokens',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['jwk'],
          properties: { jwk: { type: 'object', maxProperties: 12 } },
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          presentSigningKey(
            await deps.operatorTokens.register(request.operator.operatorId, request.operator.mode, request.body.jwk),
          ),
        ),
  );

  app.get(
    '/v1/signing_keys',
    { schema: { tags: ['operator'], summary: 'Registered signing keys' } },
    async (request) => ({
      object: 'list',
      data: (await deps.operatorTokens.list(request.operator.operatorId)).map(presentSigningKey),
    }),
  );

  app.post<{ Params: { kid: string } }>(
    '/v1/signing_keys/:kid/revoke',
    {
      schema: {
        tags: ['operator'],
        summary: 'Revoke a signing key: tokens signed with it are refused at once',
        params: { type: 'object', required: ['kid'], properties: { kid: { type: 'string', maxLength: 128 } } },
      },
    },
    async (request) =>
      presentSigningKey(await deps.operatorTokens.revoke(request.operator.operatorId, request.params.kid)),
  );
}
