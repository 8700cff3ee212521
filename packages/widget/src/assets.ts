import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';

/** The browser files (src/browser): plain ES modules, a JSON module and CSS, served as they are on disk. */
const BROWSER_DIR = new URL('./browser/', import.meta.url);

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface WidgetAsset {
  body: Buffer;
  contentType: string;
}

/**
 * Every browser file by name, read once. Only these names can be served: nothing else
 * on disk is reachable through them.
 */
export function widgetAssets(): ReadonlyMap<string, WidgetAsset> {
  const assets = new Map<string, WidgetAsset>();
  for (const name of readdirSync(BROWSER_DIR).sort()) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (!contentType) throw new Error(`packages/widget/src/browser/${name}: no content type for ${extname(name)}`);
    assets.set(name, { body: readFileSync(new URL(name, BROWSER_DIR)), contentType });
  }
  return assets;
}
