/**
 * ABA routing number check: nine digits whose weighted sum (3, 7, 1 repeating) is a
 * multiple of ten. Real processors reject a bad routing number before anything moves.
 */
export function isValidRoutingNumber(value: unknown): value is string {
  if (typeof value !== 'string' || !/^\d{9}$/.test(value)) return false;
  const weights = [3, 7, 1, 3, 7, 1, 3, 7, 1];
  const sum = [...value].reduce((total, digit, i) => total + Number(digit) * weights[i]!, 0);
  return sum % 10 === 0;
}
