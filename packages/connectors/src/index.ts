export { CircuitBreaker } from './circuit-breaker.ts';
export { type ConnectorOptions, HttpConnector } from './connector.ts';
// Crypto deposit addresses, the crypto ramp and identity verification.
export { CHAIN_OF_NETWORK, type Chain } from './crypto/chains.ts';
export { type DepositAddress, DepositAddresses } from './crypto/deposit-addresses.ts';
export { deriveAddress, MAX_CHILD_INDEX, readXpub } from './crypto/derivation.ts';
export { assertPayoutAddress, isValidAddress } from './crypto/validation.ts';
export { callProvider, type ProviderAnswer, type ProviderCall } from './http.ts';
export { parseWebhookBody, SIGNATURE_TOLERANCE_SECONDS, verifySimSignature } from './sim-signature.ts';
export { SimBankConnector } from './simbank/simbank.ts';
export { SimCardConnector } from './simcard/simcard.ts';
export { SimCryptoConnector, type SimCryptoOptions } from './simcrypto/simcrypto.ts';
export { SimKycConnector } from './simkyc/simkyc.ts';
