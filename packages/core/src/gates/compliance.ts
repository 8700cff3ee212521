import type { OperatorSettingsStore } from '../settings/operator-settings.ts';
import type { EndUser, EndUsers } from '../users/end-users.ts';
import type { Terms } from '../users/terms.ts';
import type { GateContext } from './gates.ts';
import type { GeoLocator } from './location.ts';

/** Whose gates: a session, or a user the operator names directly (Partner API). */
export interface Subject {
  operator_id: string;
  user_id: string;
  mode: 'test' | 'live';
  /** The end user's IP as the operator reported it. */
  client_ip: string | null;
  /** The session, when there is one; links lead back into it. */
  id?: string;
}

/**
 * Gathers what gates are computed from, for a session: the user, the operator's
 * configuration, the current terms and the location of the end user's IP (the IP the
 * operator gave at session creation, else the one the widget calls from).
 */
export class Compliance {
  private readonly users: EndUsers;
  private readonly settings: OperatorSettingsStore;
  private readonly terms: Terms;
  private readonly geo: GeoLocator;
  private readonly links: { kycUrl: (subject: Subject) => string };
  private readonly offered: (mode: 'test' | 'live') => { has(provider: string): boolean };

  constructor(deps: {
    users: EndUsers;
    settings: OperatorSettingsStore;
    terms: Terms;
    geo: GeoLocator;
    links: { kycUrl: (subject: Subject) => string };
    /** The payment providers this deployment reaches in each mode. */
    offered: (mode: 'test' | 'live') => { has(provider: string): boolean };
  }) {
    this.users = deps.users;
    this.settings = deps.settings;
    this.terms = deps.terms;
    this.geo = deps.geo;
    this.links = deps.links;
    this.offered = deps.offered;
  }

  /** `user`: the end user when the caller has just read them (saves the read). */
  async context(session: Subject, requestIp: string | null, user?: EndUser): Promise<GateContext> {
    const [current, settings, terms] = await Promise.all([
      user ?? this.users.get(session.operator_id, session.user_id),
      this.settings.get(session.operator_id),
      this.terms.current(session.operator_id),
    ]);
    const ip = session.client_ip ?? requestIp;
    const kycUrl = settings.kyc_url ?? this.links.kycUrl(session);
    return {
      user: current,
      settings,
      mode: session.mode,
      offered: this.offered(session.mode),
      currentTerms: terms?.version ?? null,
      ip,
      location: ip ? this.geo.locate(ip) : null,
      kycUrl,
      verificationUrl: kycUrl,
    };
  }
}
