import { clientError } from './errors.js';

/** How long a provider's SDK may take to load before the widget gives up (ms). */
export const DEFAULT_SDK_TIMEOUT_MS = 15_000;

/**
 * @typedef {object} SdkScript
 * @property {string} provider Rampart's provider id, reported as `details.provider`.
 * @property {string} src The script's URL.
 * @property {string} global The global the script defines.
 * @property {(sdk: unknown) => boolean} [ready] Whether the global is the SDK; default: it is defined.
 * @property {number} [timeoutMs] Default DEFAULT_SDK_TIMEOUT_MS.
 */

/** @param {unknown} value */
const defined = (value) => value !== undefined && value !== null;

/**
 * Loads a provider's browser SDK with a `<script>` tag and resolves with the global it
 * defines. Rejects with `provider_load_failed`, `details.reason` saying how: the script
 * could not be fetched or was refused (`script_error`), it ran without defining its
 * global (`no_global`), or it did not finish within `timeoutMs` (`timeout`). A script
 * that arrives after the timeout may still run; the caller has moved on by then.
 * @param {SdkScript} options
 * @param {Document} [doc]
 * @returns {Promise<unknown>}
 */
export function loadProviderSdk(options, doc = document) {
  const { provider, src, global, ready = defined, timeoutMs = DEFAULT_SDK_TIMEOUT_MS } = options;
  const scope = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (doc.defaultView ?? {}));
  if (ready(scope[global])) return Promise.resolve(scope[global]);
  return new Promise((resolve, reject) => {
    const script = doc.createElement('script');
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const settle = () => {
      clearTimeout(timer);
      script.onload = null;
      script.onerror = null;
    };
    /** @param {'script_error' | 'no_global' | 'timeout'} reason */
    const fail = (reason) => {
      settle();
      reject(clientError('provider_load_failed', { provider, reason }));
    };
    script.onload = () => {
      const sdk = scope[global];
      if (!ready(sdk)) return fail('no_global');
      settle();
      resolve(sdk);
    };
    script.onerror = () => fail('script_error');
    timer = setTimeout(() => fail('timeout'), timeoutMs);
    script.src = src;
    doc.head.append(script);
  });
}
