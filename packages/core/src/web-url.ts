/**
 * An absolute http(s) URL: what Rampart links users to or calls. Anything else
 * (`javascript:`, `data:`, `file:`) is refused wherever a URL is configured.
 */
export function isWebUrl(value: unknown): value is string {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'https:' || protocol === 'http:';
}
