export { LedgerInvariantError } from './invariant.ts';
export { Ledger } from './ledger.ts';
export type {
  AccountInput,
  AccountKind,
  Balance,
  Entry,
  EntryInput,
  EntryPage,
  Hold,
  HoldInput,
  HoldStatus,
  LedgerAccount,
  Movement,
  Position,
  ReverseOptions,
  Transfer,
  TransferInput,
  TransferKind,
} from './types.ts';
export { type Adjustment, type StatementEntry, UserBalances } from './user-balances.ts';
