/**
 * The providers' browser SDKs the widget can drive, by Rampart provider id: where each
 * is served under the provider's base URL, the global it defines, and how to show the
 * provider's page with it. Base URLs are configuration (the server puts them in the
 * page), so sandbox and production differ only there.
 * @typedef {object} ProviderSdk
 * @property {string} path Under the provider's base URL.
 * @property {string} global What the script defines on `window`.
 * @property {(sdk: unknown) => boolean} ready Whether that global is the SDK the widget expects.
 * @property {(sdk: unknown, flow: { url: string, onClose: () => void }) => void} launch Shows the provider's page at `url`.
 */

/**
 * The sandbox bank's lightbox (packages/simulator README, "Browser SDK").
 * @typedef {{ open(options: { redirectUrl: string, onClose?: () => void }): { close(): void } }} SandboxBankLightbox
 */

/** @type {Readonly<Record<string, ProviderSdk>>} */
export const PROVIDER_SDKS = Object.freeze({
  simbank: {
    path: '/bank/lightbox.js',
    global: 'SandboxBankLightbox',
    ready: (sdk) => typeof (/** @type {Partial<SandboxBankLightbox> | undefined} */ (sdk)?.open) === 'function',
    launch: (sdk, { url, onClose }) => {
      /** @type {SandboxBankLightbox} */ (sdk).open({ redirectUrl: url, onClose });
    },
  },
});
