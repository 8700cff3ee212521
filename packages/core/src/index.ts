export { type Clock, systemClock } from './clock.ts';
export { API_VERSION, type EventType, eventTypes, isEventType } from './events/catalog.ts';
export { type EventInput, EventLog, type StoredEvent } from './events/event-log.ts';
export {
  type Claim,
  canonicalJson,
  IdempotencyKeys,
  requestFingerprint,
  type StoredResponse,
} from './idempotency/idempotency-keys.ts';
export { createIdGenerator, type IdGenerator } from './ids.ts';
export { IpAllowlist, normaliseIp, normaliseOrigin, parseCidr } from './operators/allowlist.ts';
export { type ApiKey, ApiKeys, type IssuedKey, type KeyMode, type KeyScope } from './operators/api-keys.ts';
export {
  type CallerContext,
  type Operator,
  type OperatorPrincipal,
  Operators,
} from './operators/operators.ts';
export { Database, type DatabaseOptions, type Queryable, type Store } from './storage/database.ts';
export { MIGRATIONS_DIR, migrate } from './storage/migrate.ts';
