import { RampartError } from '@rampart/errors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Deeper than any request Rampart takes (metadata included) needs. */
export const MAX_INPUT_DEPTH = 32;
const MAX_ISSUES = 20;

interface Issue {
  field: string;
  message: string;
}

/** Why PostgreSQL could not store this text: a NUL character, or half of a UTF-16 pair (no character at all). */
function unstorable(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (!text.isWellFormed()) return 'must be well-formed Unicode (no lone surrogate such as \\ud800)';
  return undefined;
}

/**
 * Finds what no handler should meet: text PostgreSQL cannot store (in a value or a key)
 * and nesting deeper than `MAX_INPUT_DEPTH`. Walked with a stack, not recursion, so the
 * check itself cannot overflow.
 */
export function unstorableInput(root: unknown, prefix = ''): Issue[] {
  const issues: Issue[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: prefix, depth: 0 }];
  while (stack.length > 0 && issues.length < MAX_ISSUES) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const message = unstorable(value);
      if (message) issues.push({ field: path || 'body', message });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_INPUT_DEPTH) {
      issues.push({ field: path || 'body', message: `is nested deeper than ${MAX_INPUT_DEPTH} levels` });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      const message = unstorable(key);
      if (message) issues.push({ field: at, message });
      stack.push({ value: child, path: at, depth: depth + 1 });
    }
  }
  return issues;
}

/** Refuses such input with `validation_error` before any route's validation or handler. */
export function refuseUnstorableInput(app: FastifyInstance): void {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const issues = [
      ...unstorableInput(request.params),
      ...unstorableInput(request.query),
      ...unstorableInput(request.body),
    ];
    if (issues.length > 0) throw new RampartError('validation_error', { issues: issues.slice(0, MAX_ISSUES) });
  });
}
