import { RampartError } from '@rampart/errors';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** Validates a phone number and returns it in E.164; national numbers need the user's country. */
export function normalisePhone(input: string, country: string | null | undefined): string {
  const parsed = parsePhoneNumberFromString(
    input,
    (country ?? undefined) as Parameters<typeof parsePhoneNumberFromString>[1],
  );
  if (!parsed?.isValid()) {
    throw new RampartError('invalid_value', {
      field: 'phone',
      provided: input,
      expected: 'a valid phone number, in international format (+1 212 555 0100) or national with country',
    });
  }
  return parsed.number;
}
