import type { Queryable } from '../storage/database.ts';

/** Withdrawals under the operator's review (migration 0022): one row each until the review ends. */
export const reviewStore = {
  async open(
    tx: Queryable,
    review: { paymentId: string; operatorId: string; expiresAt: Date; sealed: Buffer; at: Date },
  ): Promise<void> {
    await tx.query(
      `INSERT INTO payment_reviews (payment_id, operator_id, expires_at, sealed, created_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [review.paymentId, review.operatorId, review.expiresAt, review.sealed, review.at],
    );
  },

  /** Ends the review's row, and with it what was sealed. */
  async close(db: Queryable, paymentId: string): Promise<void> {
    await db.query('DELETE FROM payment_reviews WHERE payment_id = $1', [paymentId]);
  },

  /** What was sealed for the review, kept until the provider answered its approval; undefined: none. */
  async sealed(tx: Queryable, paymentId: string): Promise<Buffer | undefined> {
    const { rows } = await tx.query<{ sealed: Buffer }>('SELECT sealed FROM payment_reviews WHERE payment_id = $1', [
      paymentId,
    ]);
    return rows[0]?.sealed;
  },

  /** Rows of payments that ended some other way (reconciliation failed an approval that died): nothing to keep. */
  async sweepEnded(db: Queryable): Promise<number> {
    const { rowCount } = await db.query(
      `DELETE FROM payment_reviews r USING payments p
        WHERE p.id = r.payment_id AND p.status NOT IN ('created', 'pending')`,
    );
    return rowCount ?? 0;
  },

  /** Reviews past their deadline, oldest first. */
  async due(db: Queryable, now: Date, limit: number): Promise<{ payment_id: string; operator_id: string }[]> {
    const { rows } = await db.query<{ payment_id: string; operator_id: string }>(
      'SELECT payment_id, operator_id FROM payment_reviews WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2',
      [now, limit],
    );
    return rows;
  },
};
