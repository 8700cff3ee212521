/** Rampart's hosted widget pages: server-rendered HTML shells that load the browser files. */

export interface LaunchPageOptions {
  /** Where the browser files are served, ending in `/`, e.g. `/widget/v1/assets/`. */
  assetsPath: string;
  paymentId: string;
  /** Base URL each provider's browser SDK is served under, by Rampart provider id. */
  sdkBaseUrls: Readonly<Record<string, string>>;
  /** How long a provider SDK may take to load; the browser default (15 s) when absent. */
  sdkTimeoutMs?: number;
  /** How long each widget API call may take (then `client_timeout`); the SDK deadline (15 s) when absent. */
  apiTimeoutMs?: number;
}

export interface HostedPage {
  html: string;
  /** What the page needs and nothing more: scripts and frames only from itself and the SDK origins. */
  contentSecurityPolicy: string;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON inside a `<script type="application/json">` block: no `<`, so no `</script>` can end it early. */
const jsonForScriptBlock = (value: unknown) => JSON.stringify(value).replaceAll('<', '\\u003c');

/** `http(s)` base URLs without a trailing slash, by provider; anything else is left out. */
function usableBaseUrls(sdkBaseUrls: Readonly<Record<string, string>>): Record<string, string> {
  const usable: Record<string, string> = {};
  for (const [provider, base] of Object.entries(sdkBaseUrls)) {
    if (!URL.canParse(base)) continue;
    const url = new URL(base);
    if (url.protocol === 'http:' || url.protocol === 'https:') usable[provider] = base.replace(/\/+$/, '');
  }
  return usable;
}

/**
 * The page that opens a pending payment's provider flow (src/browser/launch.js). It
 * carries no user data: the payment is read in the browser with the widget token from
 * the URL fragment.
 */
export function launchPage(options: LaunchPageOptions): HostedPage {
  const sdkBaseUrls = usableBaseUrls(options.sdkBaseUrls);
  const origins = [...new Set(Object.values(sdkBaseUrls).map((base) => new URL(base).origin))];
  const config = {
    paymentId: options.paymentId,
    sdkBaseUrls,
    ...(options.sdkTimeoutMs === undefined ? {} : { sdkTimeoutMs: options.sdkTimeoutMs }),
    ...(options.apiTimeoutMs === undefined ? {} : { apiTimeoutMs: options.apiTimeoutMs }),
  };
  const assets = escapeHtml(options.assetsPath);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment</title>
<link rel="stylesheet" href="${assets}launch.css">
<script type="application/json" id="rampart-launch">${jsonForScriptBlock(config)}</script>
<script type="module" src="${assets}launch.js"></script>
</head>
<body>
<main>
<p id="test-mode" hidden>Test mode: no real money moves.</p>
<p id="status" role="status">Connecting to your payment provider…</p>
<div id="problem" hidden>
<p id="problem-message" role="alert"></p>
<button id="retry" type="button">Try again</button>
</div>
</main>
</body>
</html>
`;
  const sources = origins.join(' ');
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src 'self'${sources ? ` ${sources}` : ''}`,
    "connect-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `frame-src ${sources || "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return { html, contentSecurityPolicy };
}
