import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { catalogEntries } from '@rampart/errors';

/** The widget's copy of the catalog, read by browsers as a JSON module (src/browser/errors.js). */
export const WIDGET_CATALOG_PATH = fileURLToPath(new URL('../src/browser/catalog.json', import.meta.url));

/**
 * The codes the widget raises itself (surface `client`), with what a browser needs to
 * report them as the API would: status, type, retryable, action and message template.
 * Generated so it cannot drift from the catalog; test/catalog.test.ts fails when it does.
 */
export function renderWidgetCatalog(): string {
  const entries = catalogEntries
    .filter((entry) => entry.surface === 'client')
    .map(({ code, status, type, retryable, action, message }) => [code, { status, type, retryable, action, message }]);
  return `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(WIDGET_CATALOG_PATH, renderWidgetCatalog());
  console.log(`wrote ${WIDGET_CATALOG_PATH}`);
}
