import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { catalogEntries } from '../src/catalog.ts';
import type { SeedMapping, SeedSystem } from '../src/types.ts';

interface SeedFixture extends Record<SeedSystem, string[]> {
  events: Partial<Record<SeedSystem, string[]>>;
  not_errors: Partial<Record<SeedSystem, Record<string, string>>>;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/seed-codes.json', import.meta.url), 'utf8')) as SeedFixture;

const systems: readonly SeedSystem[] = ['ramp_v1', 'ramp_v2', 'prediction_embed', 'igaming_cashier', 'card_ach_api'];

function seedText(system: SeedSystem): string {
  return readFileSync(new URL(`./fixtures/seeds/${system}.txt`, import.meta.url), 'utf8');
}

function mappingsFor(system: SeedSystem): SeedMapping[] {
  return catalogEntries.flatMap((entry) => entry.seeds[system] ?? []);
}

/** `status:N` stands for a condition the seed identifies by HTTP status alone. */
function statusOf(name: string): number | undefined {
  const match = /^status:(\d{3})$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

describe('seed code fixture', () => {
  for (const system of systems) {
    const text = seedText(system);

    it(`lists only codes literally present in ${system}.txt`, () => {
      const named = [
        ...fixture[system],
        ...(fixture.events[system] ?? []),
        ...Object.keys(fixture.not_errors[system] ?? {}),
      ];
      assert.ok(fixture[system].length > 0, `${system} has no codes in the fixture`);
      for (const name of named) {
        const status = statusOf(name);
        // Seed tables were flattened, so codes can be glued to a preceding status ("400invalid_request").
        const needle =
          status === undefined
            ? new RegExp(`(^|[^A-Za-z_])${name.replace('.', '\\.')}`)
            : new RegExp(`\\b${status}\\b`);
        assert.match(text, needle, `${name} does not appear in ${system}.txt`);
      }
    });

    it(`accounts for every UPPER_SNAKE name in ${system}.txt`, () => {
      const known = new Set([
        ...fixture[system],
        ...(fixture.events[system] ?? []),
        ...Object.keys(fixture.not_errors[system] ?? {}),
      ]);
      const found = new Set(text.match(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g) ?? []);
      const missing = [...found].filter((name) => !known.has(name));
      assert.deepEqual(missing, [], `add these to seed-codes.json (codes, events or not_errors)`);
    });

    it(`maps every ${system} code to a catalog entry`, () => {
      const mappings = mappingsFor(system);
      const unmapped = fixture[system].filter((name) => {
        const status = statusOf(name);
        if (status !== undefined) return !mappings.some((m) => m.status === status);
        return !mappings.some((m) => m.code === name || m.slug === name);
      });
      assert.deepEqual(unmapped, [], `no catalog entry maps these ${system} codes`);
    });

    it(`maps every ${system} event to a catalog entry`, () => {
      const events = new Set(mappingsFor(system).map((m) => m.event));
      const unmapped = (fixture.events[system] ?? []).filter((name) => !events.has(name));
      assert.deepEqual(unmapped, []);
    });

    it(`maps no ${system} name that is not an error`, () => {
      const notErrors = new Set(Object.keys(fixture.not_errors[system] ?? {}));
      const wrong = mappingsFor(system).filter((m) => notErrors.has(m.code ?? '') || notErrors.has(m.event ?? ''));
      assert.deepEqual(wrong, []);
    });
  }

  it('backs every catalog seed mapping with a fixture entry, so the catalog cannot invent seed codes', () => {
    const invented: string[] = [];
    for (const entry of catalogEntries) {
      for (const system of systems) {
        const codes = new Set(fixture[system]);
        const events = new Set(fixture.events[system] ?? []);
        for (const m of entry.seeds[system] ?? []) {
          const where = `${entry.code} -> ${system}`;
          if (m.code === undefined && m.event === undefined && m.status === undefined)
            invented.push(`${where}: empty mapping`);
          if (m.code !== undefined && !codes.has(m.code)) invented.push(`${where}: code ${m.code}`);
          if (m.slug !== undefined && !codes.has(m.slug)) invented.push(`${where}: slug ${m.slug}`);
          if (m.event !== undefined && !events.has(m.event)) invented.push(`${where}: event ${m.event}`);
          if (m.code === undefined && m.status !== undefined && !codes.has(`status:${m.status}`)) {
            invented.push(`${where}: status-only ${m.status}`);
          }
        }
      }
    }
    assert.deepEqual(invented, []);
  });

  it('gives every ramp_v2 mapping both its slug and its code', () => {
    const incomplete = catalogEntries.filter((entry) =>
      (entry.seeds.ramp_v2 ?? []).some((m) => m.slug === undefined || m.code === undefined),
    );
    assert.deepEqual(
      incomplete.map((e) => e.code),
      [],
    );
  });

  it('records the seed status where it differs from ours', () => {
    const find = (system: SeedSystem, code: string) =>
      catalogEntries.find((entry) => entry.seeds[system]?.some((m) => m.code === code));
    assert.equal(find('igaming_cashier', 'SESSION_EXPIRED')?.code, 'session_ttl_expired');
    assert.equal(find('igaming_cashier', 'SESSION_EXPIRED')?.status, 409);
    assert.equal(
      find('igaming_cashier', 'SESSION_EXPIRED')?.seeds.igaming_cashier?.find((m) => m.code === 'SESSION_EXPIRED')
        ?.status,
      400,
    );
    assert.equal(find('card_ach_api', 'kyc_required')?.seeds.card_ach_api?.[0]?.status, 451);
    assert.equal(find('ramp_v1', 'kyc_required')?.seeds.ramp_v1?.[0]?.status, 422);
  });
});
