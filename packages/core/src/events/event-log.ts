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
const MAX_PAGE = 100;

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

  /** Newest last; `after` is the id of the last event of the previous page (ids sort by time). */
  async list(
    operatorId: string,
    filter: { after?: string; limit?: number; type?: EventType; subjectId?: string } = {},
  ): Promise<StoredEvent[]> {
    const limit = Math.min(Math.max(filter.limit ?? 50, 1), MAX_PAGE);
    const { rows } = await this.db.query<StoredEvent>(
      `SELECT ${EVENT_COLUMNS} FROM events
        WHERE operator_id = $1
          AND ($2::text IS NULL OR id > $2)
          AND ($3::text IS NULL OR type = $3)
          AND ($4::text IS NULL OR subject_id = $4)
        ORDER BY id LIMIT $5`,
      [operatorId, filter.after ?? null, filter.type ?? null, filter.subjectId ?? null, limit],
    );
    return rows;
  }
}
