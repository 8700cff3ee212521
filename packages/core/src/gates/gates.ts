import { RampartError } from '@rampart/errors';
import type { Action, OperatorSettings, ProviderRule } from '../settings/operator-settings.ts';
import type { EndUser } from '../users/end-users.ts';
import { type Location, matchesJurisdiction } from './location.ts';

export type GateName = 'terms' | 'email-verify' | 'phone-verify' | 'kyc' | 'geoip';

export interface Gate {
  completed: boolean;
  required: boolean;
  description: string;
}

export interface Permission {
  granted: boolean;
  description: string;
  denyReason?: string;
}

/** Everything gates are computed from: no I/O happens in this module. */
export interface GateContext {
  user: EndUser;
  settings: OperatorSettings;
  mode: 'test' | 'live';
  /** The providers this deployment reaches in `mode`: any other the settings name is not available. */
  offered: { has(provider: string): boolean };
  /** The current terms version; null when the operator has published none. */
  currentTerms: string | null;
  /** The IP the location was taken from, and what it resolved to (null: unknown). */
  ip: string | null;
  location: Location | null;
  /** Links for the user's next step. */
  kycUrl: string;
  verificationUrl: string;
}

const ACTION_VERBS: Record<Action, string> = {
  deposit: 'Deposit with',
  withdrawal: 'Withdraw to',
  buy: 'Buy crypto with',
  sell: 'Sell crypto with',
};

function kycRequiredFor(settings: OperatorSettings, action: Action | undefined): boolean {
  const policy = settings.required_gates.kyc;
  return policy === 'all' || (policy === 'withdrawal' && (action === 'withdrawal' || action === 'sell'));
}

function geoGate(ctx: GateContext): Gate & { blocked?: { country: string; stateCode?: string; reason: string } } {
  const required = ctx.settings.required_gates.geo;
  if (!ctx.location) {
    const allowed = !required || (ctx.mode === 'test' && ctx.settings.allow_unlocated_ips_in_test);
    return {
      completed: allowed,
      required,
      description: allowed ? 'Location not known (test mode allows it)' : 'Location could not be determined',
      ...(allowed ? {} : { blocked: { country: 'ZZ', reason: 'Location could not be determined' } }),
    };
  }
  const where = ctx.location.region ? `${ctx.location.country}-${ctx.location.region}` : ctx.location.country;
  const blocked = matchesJurisdiction(ctx.location, ctx.settings.blocked_jurisdictions);
  if (required && blocked) {
    const place = blocked.includes('-') ? blocked.split('-')[1]! : blocked;
    return {
      completed: false,
      required,
      description: `IP address in ${where}`,
      blocked: {
        country: ctx.location.country,
        ...(ctx.location.region ? { stateCode: ctx.location.region } : {}),
        reason: `Payments are not available in ${place}`,
      },
    };
  }
  return { completed: true, required, description: `IP address in ${where}` };
}

export function computeGates(ctx: GateContext, action?: Action): Record<GateName, Gate> {
  const { user, settings } = ctx;
  const g = settings.required_gates;
  const termsDone = ctx.currentTerms === null || user.terms_version === ctx.currentTerms;
  const { blocked: _blocked, ...geo } = geoGate(ctx);
  return {
    terms: {
      completed: termsDone,
      required: g.terms,
      description:
        ctx.currentTerms === null
          ? 'No terms to accept'
          : termsDone
            ? 'Accepted terms and conditions'
            : `Terms and conditions ${ctx.currentTerms} not accepted`,
    },
    'email-verify': {
      completed: user.email_verified_at !== null,
      required: g.email,
      description: user.email_verified_at ? 'Email address verified' : 'Email address not verified',
    },
    'phone-verify': {
      completed: user.phone_verified_at !== null,
      required: g.phone,
      description: user.phone_verified_at ? 'Phone number verified' : 'Phone number not verified',
    },
    kyc: {
      completed: user.kyc_status === 'verified',
      required: kycRequiredFor(settings, action) || g.kyc === 'all',
      description: {
        not_started: 'Identity verification not started',
        pending: 'Identity verification in review',
        verified: 'Passed KYC',
        failed: 'Identity verification failed',
        reverification_required: 'Identity must be verified again',
      }[user.kyc_status],
    },
    geoip: geo,
  };
}

/** Why a provider may not be used for an action, or undefined when it may. */
function denyReason(ctx: GateContext, action: Action, rule: ProviderRule): string | undefined {
  if (ctx.user.blocked_at) return 'Account blocked';
  if (action === 'sell' && !ctx.settings.sell_enabled) return 'Off-ramp not enabled';
  if (ctx.location) {
    const blocked = matchesJurisdiction(ctx.location, rule.blocked_jurisdictions);
    if (blocked) return `Blocked in ${blocked.includes('-') ? blocked.split('-')[1] : blocked}`;
  }
  // The sandbox, say, in live mode: it moves no real money there.
  if (!ctx.offered.has(rule.provider)) return `Not available in ${ctx.mode} mode`;
  return undefined;
}

export function computePermissions(ctx: GateContext): Record<string, Permission> {
  const permissions: Record<string, Permission> = {};
  for (const [action, rules] of Object.entries(ctx.settings.providers) as [
    Action,
    OperatorSettings['providers'][Action],
  ][]) {
    for (const rule of rules) {
      const reason = denyReason(ctx, action, rule);
      permissions[`${action}-${rule.provider}`] = {
        granted: reason === undefined,
        description: `${ACTION_VERBS[action]} ${rule.provider}`,
        ...(reason ? { denyReason: reason } : {}),
      };
    }
  }
  return permissions;
}

type Standing = Pick<GateContext, 'user' | 'settings' | 'kycUrl' | 'verificationUrl'>;

function refuseBlocked({ user }: Pick<GateContext, 'user'>): void {
  if (user.blocked_at) {
    throw new RampartError('customer_blocked', { ...(user.blocked_reason ? { reason: user.blocked_reason } : {}) });
  }
}

/** Throws when the user's identity verification does not allow `action` (now). */
function refuseUnverified(ctx: Standing, action: Action): void {
  const { user, settings } = ctx;
  if (kycRequiredFor(settings, action)) {
    switch (user.kyc_status) {
      case 'verified':
        break;
      case 'not_started':
        // A withdrawal names the requirement; other actions say verification has not begun.
        throw action === 'withdrawal'
          ? new RampartError('kyc_required', { kyc_url: ctx.kycUrl })
          : new RampartError('kyc_not_started', { kyc_url: ctx.kycUrl });
      case 'pending':
        throw new RampartError('kyc_pending');
      case 'failed':
        throw new RampartError('kyc_failed', { reason: user.kyc_reason ?? 'rejected' });
      case 'reverification_required':
        throw new RampartError('reverification_required', { verification_url: ctx.verificationUrl });
    }
  } else if (user.kyc_status === 'reverification_required') {
    // Once a provider has asked for re-verification, no action proceeds until it is done.
    throw new RampartError('reverification_required', { verification_url: ctx.verificationUrl });
  }
}

/**
 * The user's own standing for `action`, as it is now: blocked, then identity
 * verification. For a decision taken long after the user asked (a withdrawal approved
 * after review), when the request's location and session are long gone.
 */
export function enforceStanding(ctx: Standing, action: Action): void {
  refuseBlocked(ctx);
  refuseUnverified(ctx, action);
}

/**
 * Throws the first reason the user may not perform `action`, in the order a user can
 * act on them: blocked, location, terms, email, phone, identity, then the provider.
 * Returns the providers that may be used, in the operator's order (the first is the
 * route, the rest are fallbacks).
 */
export function enforceGates(ctx: GateContext, action: Action, provider?: string): string[] {
  const { settings } = ctx;
  refuseBlocked(ctx);
  if (action === 'sell' && !settings.sell_enabled) throw new RampartError('offramp_not_enabled');
  const geo = geoGate(ctx);
  if (geo.blocked) throw new RampartError('geofence_blocked', geo.blocked);
  const gates = computeGates(ctx, action);
  if (gates.terms.required && !gates.terms.completed)
    throw new RampartError('terms_not_accepted', { terms_version: ctx.currentTerms });
  if (gates['email-verify'].required && !gates['email-verify'].completed) throw new RampartError('email_not_verified');
  if (gates['phone-verify'].required && !gates['phone-verify'].completed) throw new RampartError('phone_not_verified');
  refuseUnverified(ctx, action);
  const rules = settings.providers[action].filter((rule) => provider === undefined || rule.provider === provider);
  if (provider !== undefined && rules.length === 0) {
    throw new RampartError('action_not_permitted', { action, provider, denyReason: `${provider} is not offered` });
  }
  const permitted = rules.filter((rule) => denyReason(ctx, action, rule) === undefined);
  if (permitted.length === 0) {
    const first = rules[0];
    throw new RampartError('action_not_permitted', {
      action,
      ...(first ? { provider: first.provider } : {}),
      denyReason: first ? (denyReason(ctx, action, first) ?? 'Not offered') : 'No provider offered',
    });
  }
  return permitted.map((rule) => rule.provider);
}
