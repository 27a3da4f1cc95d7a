/**
 * How deeply a JSON text nests, measured on the text before parsing. A ~20 KB body of 10,000
 * nested arrays parses fine but overflows the stack of every recursive step after it
 * (validation, JSON.stringify for Redis), once the row is already committed; refusing it up
 * front keeps such a request a clean 422 with nothing written.
 */

/**
 * Whether `text` (JSON) opens more than `max` arrays or objects inside one another. A linear
 * scan that skips string contents, so it cannot itself run out of stack.
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: the next character is escaped
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) {
      inString = true;
    } else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return true;
    } else if (ch === 0x5d || ch === 0x7d) {
      depth--;
    }
  }
  return false;
}
