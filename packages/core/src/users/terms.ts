import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { ConfigCache } from '../storage/config-cache.ts';
import type { Queryable } from '../storage/database.ts';
import { deepFreeze, type ReadCache } from '../storage/read-cache.ts';
import { isWebUrl } from '../web-url.ts';
import type { EndUser, EndUsers } from './end-users.ts';

export interface TermsVersion {
  version: string;
  url: string;
  published_at: Date;
}

/** Versioned terms per operator. Publishing a new version re-opens the terms gate for everyone. */
export class Terms {
  private readonly db: Queryable;
  private readonly clock: Clock;
  private readonly users: EndUsers;
  private readonly config: ConfigCache | undefined;
  private readonly cache: ReadCache<TermsVersion | null> | undefined;

  constructor(db: Queryable, clock: Clock, users: EndUsers, config?: ConfigCache) {
    this.db = db;
    this.clock = clock;
    this.users = users;
    this.config = config;
    this.cache = config?.cache<TermsVersion | null>((operatorId) => operatorId);
  }

  async publish(operatorId: string, version: string, url: string): Promise<TermsVersion> {
    if (!/^[\x21-\x7e]{1,64}$/.test(version))
      throw new RampartError('invalid_value', { field: 'version', provided: version, expected: '1 to 64 characters' });
    if (!isWebUrl(url))
      throw new RampartError('invalid_value', { field: 'url', provided: url, expected: 'an http(s) URL' });
    const { rows } = await this.db.query<TermsVersion>(
      `INSERT INTO terms_versions (operator_id, version, url, published_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING version, url, published_at`,
      [operatorId, version, url, this.clock.now()],
    );
    if (!rows[0]) throw new RampartError('resource_exists', { resource: 'terms_version', id: version });
    this.config?.changed(operatorId);
    return rows[0];
  }

  current(operatorId: string, tx: Queryable = this.db): Promise<TermsVersion | null> {
    if (tx !== this.db || !this.cache) return this.load(operatorId, tx);
    return this.cache.get(operatorId, async () => deepFreeze(await this.load(operatorId, tx)));
  }

  private async load(operatorId: string, tx: Queryable): Promise<TermsVersion | null> {
    const { rows } = await tx.query<TermsVersion>({
      name: 'terms-current',
      text: `SELECT version, url, published_at FROM terms_versions WHERE operator_id = $1
              ORDER BY published_at DESC, version DESC LIMIT 1`,
      values: [operatorId],
    });
    return rows[0] ?? null;
  }

  /** Only the current version can be accepted: accepting an old one would not open the gate. */
  async accept(operatorId: string, userId: string, version: string): Promise<EndUser> {
    const current = await this.current(operatorId);
    if (!current || current.version !== version) {
      throw new RampartError('invalid_value', {
        field: 'version',
        provided: version,
        expected: current ? current.version : 'no terms are published',
      });
    }
    return this.users.change(operatorId, userId, async (user) =>
      user.terms_version === version
        ? null
        : {
            set: { terms_version: version, terms_accepted_at: this.clock.now() },
            event: { type: 'gate.changed', data: { gate: 'terms', completed: true, version } },
          },
    );
  }
}
