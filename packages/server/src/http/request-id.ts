import type { IncomingMessage } from 'node:http';
import { createIdGenerator } from '@rampart/core';

/** Inbound ids are kept when they are plainly ids, so a trace crosses services; anything else is replaced. */
const WELL_FORMED = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

const ids = createIdGenerator();

export function requestIdFor(request: IncomingMessage): string {
  const inbound = request.headers['x-request-id'];
  if (typeof inbound === 'string' && WELL_FORMED.test(inbound)) return inbound;
  return ids('req');
}
