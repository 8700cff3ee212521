/**
 * SQL for an operator's tenants: its live and test rows in `operators`, which share an
 * `account_id`. `operator` is the parameter (e.g. `$1`) holding either tenant's id; with
 * `mode` (a parameter too), only that mode's tenant, at most one row.
 */
export function tenantsOf(operator: string, mode?: string): string {
  return `(SELECT t.id FROM operators o JOIN operators t ON t.account_id = o.account_id
            WHERE o.id = ${operator}${mode ? ` AND t.mode = ${mode}` : ''})`;
}
