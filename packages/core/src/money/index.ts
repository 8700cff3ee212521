export { formatAmount, MAX_AMOUNT, MAX_AMOUNT_INPUT_LENGTH, parseAmount, parseMinorUnits } from './amount.ts';
export {
  type Asset,
  CURRENCIES,
  type Currency,
  type CurrencyKind,
  findCurrency,
  getAsset,
  getCurrency,
  type Network,
} from './currencies.ts';
