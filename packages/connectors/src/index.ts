export { CircuitBreaker } from './circuit-breaker.ts';
export { type ConnectorOptions, HttpConnector } from './connector.ts';
export { callProvider, type ProviderAnswer, type ProviderCall } from './http.ts';
export { parseWebhookBody, SIGNATURE_TOLERANCE_SECONDS, verifySimSignature } from './sim-signature.ts';
export { SimBankConnector } from './simbank/simbank.ts';
export { SimCardConnector } from './simcard/simcard.ts';
