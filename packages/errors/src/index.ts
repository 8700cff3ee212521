export {
  achReturnCodes,
  catalog,
  catalogEntries,
  catalogSections,
  declineCodeForReason,
  type ErrorCode,
  errorCodeForAchReturn,
  isErrorCode,
  type OperatorDeclineReason,
  operatorDeclineCodes,
} from './catalog.ts';
export {
  DOCS_BASE_URL,
  type ErrorDetails,
  type ErrorEnvelope,
  type HttpError,
  isRampartError,
  RampartError,
  renderMessage,
  toHttp,
} from './error.ts';
export type * from './types.ts';
