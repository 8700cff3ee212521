/** Output is JSON on --json, else short human lines. */
export function emit(json: boolean | undefined, value: unknown, human: string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human);
}

/** For repeatable options: each use adds a value. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
