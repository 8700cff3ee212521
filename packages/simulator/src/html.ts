/** Hosted pages (bank login, 3-D Secure, KYC) are plain server-rendered HTML forms. */
import { MAGIC_CENTS } from './magic.ts';

const PAGE_FAILS = MAGIC_CENTS.pageFails;

export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export function htmlPage(title: string, brand: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f3f4f6; margin: 0; padding: 2rem; }
  main { max-width: 26rem; margin: auto; background: #fff; border-radius: 8px; padding: 1.5rem; box-shadow: 0 1px 3px #0002; }
  h1 { font-size: 1.2rem; margin-top: 0; }
  .brand { font-size: .8rem; color: #6b7280; text-transform: uppercase; letter-spacing: .05em; }
  label { display: block; margin: .75rem 0 .25rem; }
  input, select { width: 100%; padding: .5rem; box-sizing: border-box; }
  .actions { display: flex; gap: .5rem; margin-top: 1rem; }
  button { flex: 1; padding: .6rem; border: 0; border-radius: 6px; cursor: pointer; font-size: 1rem; }
  .primary { background: #2563eb; color: #fff; }
  .secondary { background: #e5e7eb; }
  .error { color: #b91c1c; }
  .note { font-size: .8rem; color: #6b7280; }
</style>
</head>
<body>
<main>
<div class="brand">${escapeHtml(brand)} · sandbox</div>
${body}
</main>
</body>
</html>
`;
}

/** The page a hosted flow answers with when a magic value makes it fail to load. */
export function brokenPage(brand: string): string {
  return htmlPage('Internal Server Error', brand, '<h1>500 Internal Server Error</h1><p>The page failed to load.</p>');
}

/** `return_url` with the outcome appended, the way redirect flows hand the user back. */
export function returnLocation(returnUrl: string, params: Record<string, string>): string {
  const url = new URL(returnUrl);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

const HTML_HEADERS = { 'content-type': 'text/html; charset=utf-8' };

/**
 * A hosted page's resource, or the broken page to answer instead: 404 when there is no
 * such resource, 500 when its magic amount makes the page fail to load (…06).
 */
export function hostedResource<T extends { magic: number }>(
  resource: T | undefined,
  brand: string,
): { resource: T } | { answer: { status: number; body: string; headers: Record<string, string> } } {
  if (!resource) return { answer: { status: 404, body: brokenPage(brand), headers: HTML_HEADERS } };
  if (resource.magic === PAGE_FAILS) return { answer: { status: 500, body: brokenPage(brand), headers: HTML_HEADERS } };
  return { resource };
}
