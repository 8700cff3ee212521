import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DOCS_PATH, renderErrorDocs } from '../scripts/generate-docs.ts';
import { catalogEntries } from '../src/catalog.ts';

describe('docs/errors.md', () => {
  const rendered = renderErrorDocs();

  it('matches the catalog', () => {
    const onDisk = readFileSync(DOCS_PATH, 'utf8');
    assert.ok(
      onDisk === rendered,
      'docs/errors.md is out of date: run `node packages/errors/scripts/generate-docs.ts`',
    );
  });

  it('has an anchor for every code, which doc_url links to', () => {
    for (const { code } of catalogEntries) {
      assert.ok(rendered.includes(`<a id="${code}"></a>`), code);
    }
  });
});
