import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { achReturnCodes, catalog, catalogEntries, catalogSections, operatorDeclineCodes } from '../src/catalog.ts';
import { DOCS_BASE_URL, RampartError, toHttp } from '../src/error.ts';
import type { CatalogEntry, ClientAction, SeedMapping, SeedSystem } from '../src/types.ts';

/** Where the generated reference lives, relative to this script. */
export const DOCS_PATH = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

const seedSystems: readonly { readonly id: SeedSystem; readonly about: string }[] = [
  { id: 'ramp_v1', about: 'Crypto ramp proxy API, v1. Body `{error, message, request_id}`; `error` is the code.' },
  {
    id: 'ramp_v2',
    about: 'Same vendor, newer API. An outer `error` slug plus a `code`; shown below as `slug` / `code`.',
  },
  {
    id: 'prediction_embed',
    about:
      'Prediction-market deposit/withdraw embed. UPPER_SNAKE codes passed to `onError(code, message)`, some with an HTTP status, plus postMessage events.',
  },
  {
    id: 'igaming_cashier',
    about:
      'Operator cashier. Body `{message, errorCode, error}`; withdrawal decline reasons 1-9 from the approval webhook.',
  },
  {
    id: 'card_ach_api',
    about:
      'Card and ACH payments API. Body `{error: {code, message, details}}`; ACH returns arrive as `ach.returned` webhooks; some conditions are identified by HTTP status alone.',
  },
];

const actions: Readonly<Record<ClientAction, string>> = {
  fix_request: 'Change the request; sending it again unchanged gives the same error.',
  check_credentials: 'Check the key or token being sent; rotate it if it may have leaked.',
  register_origin: 'Add the page origin (scheme, host and port) to the allowlist.',
  register_ip: "Add the caller's outbound IP address to the key's allowlist.",
  contact_operator: 'The end user should contact the operator; nothing in the request can fix it.',
  contact_support: 'Send the user to support; do not retry automatically.',
  retry: 'Safe to retry, or to let the user retry.',
  retry_with_backoff: 'Retry with exponential backoff and the same Idempotency-Key.',
  retry_after: 'Wait for the Retry-After header (seconds), then retry.',
  refresh_token: 'Obtain a fresh token and continue; the flow is not lost.',
  new_session: 'Create a new session and start again.',
  complete_user_step: 'The user must complete a step (verification, terms, ...); then retry.',
  wait_for_completion: 'Something is still in progress; poll for its outcome instead of retrying.',
  do_not_retry: 'Final for this request; show the message to the user.',
};

/** Table cells cannot contain raw pipes or newlines. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const code = (text: string): string => `\`${text}\``;
const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function seedCode(mapping: SeedMapping): string {
  const parts = [mapping.slug, mapping.code].filter((part): part is string => part !== undefined);
  return parts.length === 0 ? '—' : parts.map(code).join(' / ');
}

function seedStatus(mapping: SeedMapping, entry: CatalogEntry): string {
  if (mapping.status === undefined) return '—';
  return mapping.status === entry.status ? String(mapping.status) : `${mapping.status} (Rampart: ${entry.status})`;
}

function renderEntry(entry: CatalogEntry): string {
  const facts = table(
    ['Field', 'Value'],
    [
      ['HTTP status', String(entry.status)],
      ['Type', code(entry.type)],
      ['Retryable', yesNo(entry.retryable)],
      ['Action', `${code(entry.action)}: ${actions[entry.action]}`],
      ['Surface', entry.surface === 'client' ? 'client (raised by the SDK, status synthesised)' : 'server'],
      ['Message', code(entry.message)],
    ],
  );

  const detailRows = Object.entries(entry.details).map(([name, spec]) => [
    code(name),
    spec.type,
    yesNo(spec.required === true),
    spec.description,
  ]);
  const details =
    detailRows.length === 0 ? '_No details._' : table(['Field', 'Type', 'Required', 'Description'], detailRows);

  const seedRows = seedSystems.flatMap(({ id }) =>
    (entry.seeds[id] ?? []).map((mapping) => [
      id,
      seedCode(mapping),
      seedStatus(mapping, entry),
      mapping.event === undefined ? '—' : code(mapping.event),
    ]),
  );
  const compatibility =
    seedRows.length === 0
      ? '_No compatible system documents this condition._'
      : table(['System', 'Code', 'HTTP status', 'Event'], seedRows);

  return [
    `<a id="${entry.code}"></a>`,
    '',
    `### ${code(entry.code)}`,
    '',
    entry.description,
    '',
    facts,
    '',
    '**Details**',
    '',
    details,
    '',
    '**Compatibility**',
    '',
    compatibility,
  ].join('\n');
}

function exampleEnvelope(): string {
  const error = new RampartError('insufficient_balance', { available: '12.50', requested: '40.00', currency: 'USD' });
  return JSON.stringify(toHttp(error, 'req_01J9Z3K7Q4V8W2M5N6P7R8S9T0').body, null, 2);
}

/** The whole reference as Markdown. Pure, so the drift test can compare it with the file. */
export function renderErrorDocs(): string {
  const summary = table(
    ['Code', 'Status', 'Type', 'Retryable', 'Message'],
    catalogEntries.map((entry) => [
      `[${code(entry.code)}](#${entry.code})`,
      String(entry.status),
      entry.type,
      yesNo(entry.retryable),
      code(entry.message),
    ]),
  );

  const sections = catalogSections.map(({ title, codes }) =>
    [`## ${title}`, '', codes.map((c) => renderEntry(catalog[c])).join('\n\n')].join('\n'),
  );

  const declines = table(
    ['Operator reason', 'Code'],
    Object.entries(operatorDeclineCodes).map(([reason, c]) => [reason, `[${code(c)}](#${c})`]),
  );
  const achReturns = table(
    ['Return code', 'Code'],
    Object.entries(achReturnCodes).map(([ret, c]) => [ret, `[${code(c)}](#${c})`]),
  );

  return `${[
    '# Error reference',
    '',
    '<!-- Generated from packages/errors/src/catalog.ts by packages/errors/scripts/generate-docs.ts. Do not edit by hand. -->',
    '',
    `Every error Rampart raises, over HTTP, in webhooks, widget callbacks and SDK exceptions, uses one of the ${catalogEntries.length} codes below. Codes are stable: they are never renamed, removed or reused. Messages are for people and may change; branch on \`code\`.`,
    '',
    '## The error envelope',
    '',
    'Every failed HTTP response has this body:',
    '',
    '```json',
    exampleEnvelope(),
    '```',
    '',
    table(
      ['Field', 'Meaning'],
      [
        [code('code'), 'Stable snake_case identifier; the only field to branch on.'],
        [code('message'), 'Human-readable text, filled from the message template and the details.'],
        [code('type'), 'Broad family, for grouping in dashboards and logs.'],
        [code('retryable'), 'Whether sending the same request again can succeed.'],
        [code('details'), 'Structured context; each code documents its fields below. Always an object.'],
        [code('request_id'), 'Identifier of this request; the same value as the `X-Request-Id` header.'],
        [code('doc_url'), `Link to this page's section for the code (\`${DOCS_BASE_URL}#<code>\`).`],
      ],
    ),
    '',
    'Responses carry an `X-Request-Id` header with the same value as `request_id`. Include it in support requests: the server logs the underlying cause of an error under that id, and the cause is never sent to the client (an unexpected failure always reaches the client as `internal_error`).',
    '',
    '## Handling errors',
    '',
    '- Branch on `error.code`; several codes share a status.',
    '- `retryable: true` means the same request may succeed later. Retry 5xx with exponential backoff and reuse the `Idempotency-Key` so a retry cannot create a duplicate.',
    '- `rate_limited` (429) sends a `Retry-After` header in seconds, also in `details.retry_after`.',
    '- Codes with surface `client` are produced by the SDK or widget when no usable response arrived; their status is the one the SDK reports, not one the server sent.',
    '',
    'Each code names the action a client should take next:',
    '',
    table(
      ['Action', 'Meaning'],
      Object.entries(actions).map(([action, meaning]) => [code(action), meaning]),
    ),
    '',
    '## Compatible systems',
    '',
    "Each code lists how the compatible systems spell the same condition, with the status they answer with when it differs from Rampart's.",
    '',
    table(
      ['System', 'Error format'],
      seedSystems.map(({ id, about }) => [code(id), about]),
    ),
    '',
    '## Summary',
    '',
    summary,
    '',
    ...sections.flatMap((section) => [section, '']),
    '## Operator decline reasons',
    '',
    'The operator approval webhook declines a withdrawal with a numeric reason. A missing or unknown reason is treated as 1.',
    '',
    declines,
    '',
    '## ACH return codes',
    '',
    'ACH returns arrive asynchronously and are reported with the NACHA return code in `details.return_code`. Codes not listed map to `ach_return_other`.',
    '',
    achReturns,
  ].join('\n')}\n`;
}

if (import.meta.main) {
  writeFileSync(DOCS_PATH, renderErrorDocs());
  console.log(`wrote ${DOCS_PATH}`);
}
