/** JSON schemas shared by routes; they also become the OpenAPI components. */

/**
 * A page of a newest-first list read with one row more than `limit`: that extra row
 * only says there is more; the cursor is the last id shown.
 */
export function cursorPage<T extends { id: string }, R>(rows: readonly T[], limit: number, present: (row: T) => R) {
  const page = rows.slice(0, limit);
  const more = rows.length > limit;
  return {
    object: 'list' as const,
    data: page.map(present),
    has_more: more,
    next_cursor: more ? page.at(-1)!.id : null,
  };
}

/** The `limit` of a list's query: 1 to 100, `fallback` when absent. */
export const limitQuery = (fallback: number) =>
  ({ type: 'string', pattern: '^(100|[1-9][0-9]?)$', description: `1 to 100; default ${fallback}.` }) as const;

/** The answer `cursorPage` gives, listing `items`. */
export const cursorListSchema = (items: object) =>
  ({
    type: 'object',
    properties: {
      object: { type: 'string', const: 'list' },
      data: { type: 'array', items },
      has_more: { type: 'boolean' },
      next_cursor: { type: ['string', 'null'] },
    },
    required: ['object', 'data', 'has_more', 'next_cursor'],
  }) as const;

export const idParam = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['id'],
} as const;

export const apiKeySchema = {
  $id: 'ApiKey',
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', const: 'api_key' },
    mode: { type: 'string', enum: ['test', 'live'] },
    scope: { type: 'string', enum: ['full', 'read_only'] },
    status: { type: 'string', enum: ['active', 'expiring', 'expired', 'revoked'] },
    last4: { type: 'string' },
    description: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    expires_at: { type: ['string', 'null'], format: 'date-time' },
    revoked_at: { type: ['string', 'null'], format: 'date-time' },
    replaced_by: { type: ['string', 'null'] },
  },
  required: ['id', 'object', 'mode', 'scope', 'status', 'last4', 'created_at'],
} as const;

export const issuedKeySchema = {
  $id: 'IssuedApiKey',
  type: 'object',
  properties: {
    key: { $ref: 'ApiKey#' },
    secret: { type: 'string', description: 'Shown once; Rampart stores only its hash.' },
    previous: { $ref: 'ApiKey#' },
  },
  required: ['key', 'secret'],
} as const;

export const operatorSchema = {
  $id: 'Operator',
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', const: 'operator' },
    mode: {
      type: 'string',
      enum: ['test', 'live'],
      description: "The mode of the caller's key: its allowlists and every resource it reaches are that mode's.",
    },
    name: { type: 'string' },
    ip_allowlist: { type: 'array', items: { type: 'string' } },
    origin_allowlist: { type: 'array', items: { type: 'string' } },
    created_at: { type: 'string', format: 'date-time' },
    key: {
      type: 'object',
      properties: { id: { type: 'string' }, mode: { type: 'string' }, scope: { type: 'string' } },
    },
  },
  required: ['id', 'object', 'mode', 'name', 'ip_allowlist', 'origin_allowlist', 'created_at'],
} as const;
