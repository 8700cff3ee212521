import type { Clock } from '../clock.ts';
import type { IdGenerator } from '../ids.ts';
import type { Queryable } from '../storage/database.ts';
import { API_VERSION, type EventType } from './catalog.ts';

export interface StoredEvent {
  id: string;
  operator_id: string;
  type: EventType;
  api_version: string;
  subject_id: string;
  sequence: bigint;
  data: Record<string, unknown>;
  created_at: Date;
}

export interface EventInput {
  operatorId: string;
  type: EventType;
  subjectId: string;
  data: Record<string, unknown>;
}

const EVENT_COLUMNS = 'id, operator_id, type, api_version, subject_id, sequence, data, created_at';

/**
 * An end user's events are kept under their tenant's id and their own: user ids are the
 * operator's, so two operators' (or one operator's two modes') users may share one, and a
 * subject's sequence must still count its events alone.
 */
export function userSubject(operatorId: string, userId: string): string {
  return `${operatorId}/${userId}`;
}

/** A subject as its operator knows it: a user's own id, a payment's or session's as it is. */
export function presentSubject(operatorId: string, subjectId: string): string {
  return subjectId.startsWith(`${operatorId}/`) ? subjectId.slice(operatorId.length + 1) : subjectId;
}
const MAX_PAGE = 100;

/**
 * The oldest transaction of this database still running when the statement's snapshot
 * was taken (or the next transaction id, if none): every event of an older transaction
 * has committed or never will, so nothing can appear before it any more. The snapshot's
 * running transactions are the cluster's, and a write transaction of another database
 * (another Rampart, a test, a migration) would hold events back for no reason: those
 * known to belong to another database are left out. A backend's xid is 32 bits and the
 * snapshot's 64, and running transactions are less than 2^31 apart, so the low 32 bits
 * identify it. A transaction that ends between the snapshot and the read of
 * `pg_stat_activity` is at worst kept, which only delays its events.
 */
const VISIBLE_HORIZON = `SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) x
      WHERE x::text::bigint % 4294967296 NOT IN (
        SELECT backend_xid::text::bigint FROM pg_stat_activity
         WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
        UNION ALL
        SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database <> current_database())),
    pg_snapshot_xmax(pg_current_snapshot()))`;

/**
 * The outbox. `record` must be called with the transaction that makes the change the
 * event reports, so an event exists exactly when its change was committed.
 */
export class EventLog {
  private readonly db: Queryable;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;

  constructor(db: Queryable, ids: IdGenerator, clock: Clock) {
    this.db = db;
    this.ids = ids;
    this.clock = clock;
  }

  async record(tx: Queryable, input: EventInput): Promise<StoredEvent> {
    const { rows } = await tx.query<StoredEvent>({
      name: 'record-event',
      text: `WITH seq AS (
               INSERT INTO event_sequences (subject_id, last) VALUES ($4, 1)
               ON CONFLICT (subject_id) DO UPDATE SET last = event_sequences.last + 1
               RETURNING last)
             INSERT INTO events (id, operator_id, type, api_version, subject_id, sequence, data, created_at)
             SELECT $1, $2, $3, $5, $4, seq.last, $6, $7 FROM seq
             RETURNING ${EVENT_COLUMNS}`,
      values: [
        this.ids('evt'),
        input.operatorId,
        input.type,
        input.subjectId,
        API_VERSION,
        JSON.stringify(input.data),
        this.clock.now(),
      ],
    });
    return rows[0]!;
  }

  /**
   * `record` for callers that fold the outbox into a statement of their own (one round
   * trip for a change and its events): data-modifying CTEs `event_seq` and `event_rows`
   * recording `events` (one operator, one subject, in order), with their parameters
   * numbered from `first`.
   */
  recordingCte(
    operatorId: string,
    subjectId: string,
    events: readonly { type: EventType; data: Record<string, unknown> }[],
    first: number,
    /** A condition on the statement's other parts (`EXISTS (SELECT 1 FROM updated)`): no events unless it holds. */
    onlyIf?: string,
  ): { sql: string; values: unknown[] } {
    const $ = (n: number) => `$${first + n}`;
    return {
      sql: `event_seq AS (
              INSERT INTO event_sequences (subject_id, last) SELECT ${$(0)}::text, ${$(1)}::int${onlyIf ? ` WHERE ${onlyIf}` : ''}
              ON CONFLICT (subject_id) DO UPDATE SET last = event_sequences.last + ${$(1)}::int
              RETURNING last),
            event_rows AS (
              INSERT INTO events (id, operator_id, type, api_version, subject_id, sequence, data, created_at)
              SELECT e.id, ${$(2)}, e.type, ${$(3)}, ${$(0)}, event_seq.last - ${$(1)}::int + e.ord, e.data, ${$(4)}
                FROM event_seq, unnest(${$(5)}::text[], ${$(6)}::text[], ${$(7)}::jsonb[]) WITH ORDINALITY AS e(id, type, data, ord))`,
      values: [
        subjectId,
        events.length,
        operatorId,
        API_VERSION,
        this.clock.now(),
        events.map(() => this.ids('evt')),
        events.map((e) => e.type),
        events.map((e) => JSON.stringify(e.data)),
      ],
    };
  }

  async get(operatorId: string, id: string): Promise<StoredEvent | undefined> {
    const { rows } = await this.db.query<StoredEvent>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE operator_id = $1 AND id = $2`,
      [operatorId, id],
    );
    return rows[0];
  }

  /**
   * Oldest first, in the order events became visible; `after` is the id of the last event
   * of the previous page. Only events whose transactions are older than every transaction
   * of this database still running are listed: none can commit before them any more, so
   * a reader that moves past one never misses an event that commits later (migration
   * 0026). Events of a transaction still open show up once it and every older one have
   * ended.
   */
  async list(
    operatorId: string,
    filter: { after?: string; limit?: number; type?: EventType; subjectId?: string } = {},
  ): Promise<StoredEvent[]> {
    const limit = Math.min(Math.max(filter.limit ?? 50, 1), MAX_PAGE);
    // Where the previous page ended, in (txid, id) order: read through the index from there.
    let from = '';
    const values: unknown[] = [operatorId, filter.type ?? null, filter.subjectId ?? null, limit];
    if (filter.after !== undefined) {
      const { rows } = await this.db.query<{ txid: string | null }>(
        'SELECT txid::text FROM events WHERE operator_id = $1 AND id = $2',
        [operatorId, filter.after],
      );
      const txid = rows[0]?.txid;
      values.push(filter.after);
      if (txid) {
        values.push(txid);
        from = 'AND (txid, id) > ($6::xid8, $5)';
      } else if (rows[0])
        from = 'AND (txid IS NOT NULL OR id > $5)'; // recorded before 0026
      else from = 'AND id > $5'; // not an event of this operator: ids still sort by time
    }
    const { rows } = await this.db.query<StoredEvent>(
      `SELECT ${EVENT_COLUMNS} FROM events
        WHERE operator_id = $1 ${from}
          AND (txid IS NULL OR txid < (${VISIBLE_HORIZON}))
          AND ($2::text IS NULL OR type = $2)
          AND ($3::text IS NULL OR subject_id IN ($3, $1 || '/' || $3))
        ORDER BY txid NULLS FIRST, id LIMIT $4`,
      values,
    );
    return rows;
  }
}
