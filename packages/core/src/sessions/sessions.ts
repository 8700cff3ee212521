import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { RampartError } from '@rampart/errors';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Clock } from '../clock.ts';
import type { EventLog } from '../events/event-log.ts';
import type { IdGenerator } from '../ids.ts';
import { ACTIONS, type Action, type OperatorSettingsStore } from '../settings/operator-settings.ts';
import type { Queryable, Store } from '../storage/database.ts';
import type { EndUsers } from '../users/end-users.ts';
import type { OperatorTokens } from './operator-tokens.ts';
import type { WidgetClaims, WidgetTokens } from './widget-tokens.ts';

export type SessionStatus = 'open' | 'cancelled' | 'expired' | 'completed';

export interface Session {
  id: string;
  operator_id: string;
  user_id: string;
  mode: 'test' | 'live';
  source: 'server' | 'operator_token';
  operation: Action;
  currency: string | null;
  network: string | null;
  amount: string | null;
  locks: { currency?: boolean; network?: boolean; amount?: boolean };
  redirect_url: string | null;
  language: string | null;
  theme: string | null;
  client_ip: string | null;
  status: SessionStatus;
  init_token_expires_at: Date | null;
  init_token_used_at: Date | null;
  expires_at: Date;
  created_at: Date;
  closed_at: Date | null;
}

export interface SessionInput {
  user_id: string;
  operation: Action;
  currency?: string;
  network?: string;
  amount?: string;
  locks?: { currency?: boolean; network?: boolean; amount?: boolean };
  redirect_url?: string;
  language?: string;
  theme?: 'light' | 'dark' | 'auto';
  client_ip?: string;
}

export const SESSION_THEMES = ['light', 'dark', 'auto'] as const;

/**
 * The form of a session's text fields: one definition for the `POST /v1/sessions`
 * schema (the route takes each `pattern`'s source) and for sessions opened by an
 * operator's token, which no route schema sees.
 */
export const SESSION_FIELD_FORMS = {
  currency: { pattern: /^[A-Za-z0-9]{2,10}$/, expected: 'a currency code' },
  network: { pattern: /^[A-Za-z0-9_-]{2,20}$/, expected: 'a network such as TRC20' },
  language: { pattern: /^[a-z]{2}(-[A-Z]{2})?$/, expected: 'a language such as en or en-US' },
} as const;

/**
 * The session an operator's token asks for: its claims beside the registered ones, as
 * `POST /v1/sessions` takes them (locks included: a token cannot open the fields its
 * operator locked). Claims of another type are refused; claims Rampart does not know
 * are ignored, as JWT asks.
 */
function sessionFromClaims(userId: string, claims: Record<string, unknown>): SessionInput {
  const input: SessionInput = { user_id: userId, operation: (claims['operation'] as Action | undefined) ?? 'deposit' };
  for (const key of ['currency', 'network', 'amount', 'redirect_url', 'language', 'client_ip'] as const) {
    const value = claims[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') invalid(key, value, 'a string');
    input[key] = value;
  }
  if (claims['theme'] !== undefined) input.theme = claims['theme'] as NonNullable<SessionInput['theme']>;
  const locks = claims['locks'];
  if (locks !== undefined) {
    const valid =
      typeof locks === 'object' &&
      locks !== null &&
      !Array.isArray(locks) &&
      Object.entries(locks).every(
        ([field, on]) => ['currency', 'network', 'amount'].includes(field) && typeof on === 'boolean',
      );
    if (!valid) invalid('locks', locks, 'an object of currency, network and amount, each true or false');
    input.locks = locks as NonNullable<SessionInput['locks']>;
  }
  return input;
}

/** The init token a server-created session hands to the widget; single use, one hour. */
export const INIT_TOKEN_TTL_SECONDS = 3600;

const SESSION_COLUMNS = `id, operator_id, user_id, mode, source, operation, currency, network, amount, locks,
  redirect_url, language, theme, host(client_ip) AS client_ip, status, init_token_expires_at, init_token_used_at,
  expires_at, created_at, closed_at`;

const hashToken = (token: string) => createHash('sha256').update(token).digest();

function invalid(field: string, provided: unknown, expected: string): never {
  throw new RampartError('invalid_value', { field, provided, expected });
}

/** A session is only usable while open and inside its TTL; the two failures differ for the client. */
export function assertUsable(session: Session, now: Date): void {
  if (session.status === 'cancelled' || session.status === 'completed')
    throw new RampartError('session_not_open', { status: session.status, session_id: session.id });
  if (session.status === 'expired' || session.expires_at <= now)
    throw new RampartError('session_ttl_expired', { reason: 'session_ttl', session_id: session.id });
}

export class Sessions {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly events: EventLog;
  private readonly settings: OperatorSettingsStore;
  private readonly widgetTokens: WidgetTokens;
  private readonly operatorTokens: OperatorTokens;
  private readonly users: EndUsers;

  constructor(deps: {
    db: Store;
    ids: IdGenerator;
    clock: Clock;
    events: EventLog;
    settings: OperatorSettingsStore;
    widgetTokens: WidgetTokens;
    operatorTokens: OperatorTokens;
    users: EndUsers;
  }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.events = deps.events;
    this.settings = deps.settings;
    this.widgetTokens = deps.widgetTokens;
    this.operatorTokens = deps.operatorTokens;
    this.users = deps.users;
  }

  /** What `POST /v1/sessions` checks by its schema, checked again here for sessions from operator tokens. */
  private validate(input: SessionInput): void {
    if (!(ACTIONS as readonly string[]).includes(input.operation))
      invalid('operation', input.operation, ACTIONS.join(', '));
    for (const [field, { pattern, expected }] of Object.entries(SESSION_FIELD_FORMS)) {
      const value = input[field as keyof typeof SESSION_FIELD_FORMS];
      if (value !== undefined && (typeof value !== 'string' || !pattern.test(value))) invalid(field, value, expected);
    }
    if (input.theme !== undefined && !SESSION_THEMES.includes(input.theme))
      invalid('theme', input.theme, SESSION_THEMES.join(', '));
    // A zone (`fe80::1%eth0`) is no client address, and PostgreSQL's inet refuses it.
    if (input.client_ip !== undefined && (isIP(input.client_ip) === 0 || input.client_ip.includes('%')))
      invalid('client_ip', input.client_ip, 'an IPv4 or IPv6 address');
    if (input.redirect_url !== undefined) {
      const url = URL.canParse(input.redirect_url) ? new URL(input.redirect_url) : null;
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
        invalid('redirect_url', input.redirect_url, 'an http(s) URL');
    }
    if (input.amount !== undefined && !/^\d{1,30}(\.\d{1,18})?$/.test(input.amount))
      invalid('amount', input.amount, 'a decimal string such as 25.00');
  }

  private async insert(
    tx: Queryable,
    principal: { operatorId: string; mode: 'test' | 'live' },
    source: Session['source'],
    input: SessionInput,
    initToken: string | null,
  ): Promise<Session> {
    const now = this.clock.now();
    const { session_ttl_seconds } = await this.settings.get(principal.operatorId, tx);
    // A session's user exists from its first session on, even if the operator never registered it.
    await this.users.ensure(principal.operatorId, input.user_id, tx);
    const { rows } = await tx.query<Session>(
      `INSERT INTO sessions (id, operator_id, user_id, mode, source, operation, currency, network, amount, locks,
         redirect_url, language, theme, client_ip, status, init_token_hash, init_token_expires_at, expires_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'open', $15, $16, $17, $18)
       RETURNING ${SESSION_COLUMNS}`,
      [
        this.ids('ses'),
        principal.operatorId,
        input.user_id,
        principal.mode,
        source,
        input.operation,
        input.currency?.toUpperCase() ?? null,
        input.network?.toUpperCase() ?? null,
        input.amount ?? null,
        JSON.stringify(input.locks ?? {}),
        input.redirect_url ?? null,
        input.language ?? null,
        input.theme ?? null,
        input.client_ip ?? null,
        initToken ? hashToken(initToken) : null,
        initToken ? new Date(now.getTime() + INIT_TOKEN_TTL_SECONDS * 1000) : null,
        new Date(now.getTime() + session_ttl_seconds * 1000),
        now,
      ],
    );
    const session = rows[0]!;
    await this.events.record(tx, {
      operatorId: principal.operatorId,
      type: 'session.created',
      subjectId: session.id,
      data: { session_id: session.id, user_id: session.user_id, operation: session.operation, source },
    });
    return session;
  }

  /** Server-created session: the response carries a single-use init token for the widget. */
  async create(
    principal: { operatorId: string; mode: 'test' | 'live' },
    input: SessionInput,
  ): Promise<{ session: Session; initToken: string }> {
    this.validate(input);
    const initToken = `it_${randomBytes(24).toString('base64url')}`;
    const session = await this.db.transaction((tx) => this.insert(tx, principal, 'server', input, initToken));
    return { session, initToken };
  }

  async get(operatorId: string, id: string, tx: Queryable = this.db): Promise<Session> {
    const { rows } = await tx.query<Session>({
      name: 'session-get',
      text: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE operator_id = $1 AND id = $2`,
      values: [operatorId, id],
    });
    if (!rows[0]) throw new RampartError('session_not_found', { session_id: id });
    return rows[0];
  }

  async cancel(operatorId: string, id: string): Promise<Session> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Session>(
        `SELECT ${SESSION_COLUMNS} FROM sessions WHERE operator_id = $1 AND id = $2 FOR UPDATE`,
        [operatorId, id],
      );
      const session = rows[0];
      if (!session) throw new RampartError('session_not_found', { session_id: id });
      if (session.status === 'cancelled') return session;
      if (session.status !== 'open')
        throw new RampartError('illegal_state_transition', {
          resource: 'session',
          from: session.status,
          to: 'cancelled',
        });
      const updated = await tx.query<Session>(
        `UPDATE sessions SET status = 'cancelled', closed_at = $2 WHERE id = $1 RETURNING ${SESSION_COLUMNS}`,
        [id, this.clock.now()],
      );
      await this.events.record(tx, {
        operatorId,
        type: 'session.cancelled',
        subjectId: id,
        data: { session_id: id, user_id: session.user_id },
      });
      return updated.rows[0]!;
    });
  }

  private issueFor(session: Session) {
    return this.widgetTokens.issue(
      { sessionId: session.id, operatorId: session.operator_id, userId: session.user_id, mode: session.mode },
      session.expires_at,
    );
  }

  /**
   * The operator tenant a widget credential claims, without using it up (for checks that
   * must come before its single use): the init token's session's, or the tenant of the
   * key an operator token names by issuer and kid, unverified (the exchange verifies it).
   * Undefined when it names none.
   */
  async operatorOf(credential: { init_token?: string; operator_token?: string }): Promise<string | undefined> {
    if (credential.init_token !== undefined) {
      const { rows } = await this.db.query<{ operator_id: string }>(
        'SELECT operator_id FROM sessions WHERE init_token_hash = $1',
        [hashToken(credential.init_token)],
      );
      return rows[0]?.operator_id;
    }
    if (credential.operator_token === undefined) return undefined;
    try {
      const { iss } = decodeJwt(credential.operator_token);
      const { kid } = decodeProtectedHeader(credential.operator_token);
      if (typeof iss !== 'string' || typeof kid !== 'string') return undefined;
      return (await this.operatorTokens.signingKey(iss, kid))?.operator_id;
    } catch {
      return undefined;
    }
  }

  /** Trades an init token (once) or an operator-signed token (once per `jti`) for a widget token. */
  async exchange(credential: { init_token?: string; operator_token?: string }) {
    if (credential.init_token !== undefined) return this.exchangeInitToken(credential.init_token);
    if (credential.operator_token !== undefined) return this.exchangeOperatorToken(credential.operator_token);
    throw new RampartError('missing_parameter', { field: 'init_token' });
  }

  private async exchangeInitToken(initToken: string) {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Session>(
        `SELECT ${SESSION_COLUMNS} FROM sessions WHERE init_token_hash = $1 FOR UPDATE`,
        [hashToken(initToken)],
      );
      const session = rows[0];
      if (!session) throw new RampartError('session_invalid', { reason: 'unknown_init_token' });
      const now = this.clock.now();
      if (session.init_token_used_at) throw new RampartError('init_token_used', { session_id: session.id });
      assertUsable(session, now);
      if (session.init_token_expires_at && session.init_token_expires_at <= now)
        throw new RampartError('session_ttl_expired', { reason: 'init_token_expired', session_id: session.id });
      await tx.query('UPDATE sessions SET init_token_used_at = $2 WHERE id = $1', [session.id, now]);
      await this.events.record(tx, {
        operatorId: session.operator_id,
        type: 'session.exchanged',
        subjectId: session.id,
        data: { session_id: session.id, user_id: session.user_id },
      });
      return { session, ...(await this.issueFor(session)) };
    });
  }

  private async exchangeOperatorToken(token: string) {
    return this.db.transaction(async (tx) => {
      const claims = await this.operatorTokens.verify(token, tx);
      const input = sessionFromClaims(claims.userId, claims.session);
      this.validate(input);
      const session = await this.insert(
        tx,
        { operatorId: claims.operatorId, mode: claims.mode },
        'operator_token',
        input,
        null,
      );
      return { session, ...(await this.issueFor(session)) };
    });
  }

  /** Who is calling the widget API: a valid widget token of a usable session. */
  async authenticate(token: string | undefined): Promise<{ session: Session; claims: WidgetClaims }> {
    if (!token) throw new RampartError('missing_token');
    const claims = await this.widgetTokens.verify(token).catch(async (error: unknown) => {
      // An expired token says "refresh". If its session has ended meanwhile, no refresh
      // can help: answer what the session says (not open, past its lifetime) instead.
      if (error instanceof RampartError && error.code === 'session_expired') {
        const stale = await this.widgetTokens.verifyExpired(token);
        if (stale) assertUsable(await this.get(stale.operatorId, stale.sessionId), this.clock.now());
      }
      throw error;
    });
    const session = await this.get(claims.operatorId, claims.sessionId);
    assertUsable(session, this.clock.now());
    return { session, claims };
  }

  /** The widget renews its token before expiry while the session stays open. */
  refresh(session: Session) {
    assertUsable(session, this.clock.now());
    return this.issueFor(session);
  }

  /** Background sweep: open sessions past their TTL become expired, with an event each. */
  async expireDue(batch = 200): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string; operator_id: string; user_id: string }>(
        `UPDATE sessions SET status = 'expired', closed_at = $1
          WHERE id IN (SELECT id FROM sessions WHERE status = 'open' AND expires_at <= $1
                        ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
          RETURNING id, operator_id, user_id`,
        [this.clock.now(), batch],
      );
      for (const row of rows) {
        await this.events.record(tx, {
          operatorId: row.operator_id,
          type: 'session.expired',
          subjectId: row.id,
          data: { session_id: row.id, user_id: row.user_id },
        });
      }
      return rows.length;
    });
  }
}
