/**
 * Node side of the widget: what a server needs to host it. Browsers never load this;
 * they load src/browser, served as it is.
 */
export { type WidgetAsset, widgetAssets } from './assets.ts';
export { type HostedPage, type LaunchPageOptions, launchPage } from './pages.ts';
