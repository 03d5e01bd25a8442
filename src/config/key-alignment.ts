/**
 * For each key of `after`, the index of the same key in `before`, or -1 (added, or moved further
 * than `reach` keys): a walk of both in step that looks at most `reach` keys ahead for a key
 * removed in between. A few edits to a long mapping cost a few steps more than the walk, where a
 * lookup table of every key cost as much as the edit saved (100 000 keys hashed at every reload).
 */
export function alignKeys(before: readonly string[], after: readonly string[], reach = 64): Int32Array {
  const match = new Int32Array(after.length).fill(-1);
  let next = 0;
  for (let index = 0; index < after.length; index++) {
    const key = after[index];
    const limit = Math.min(before.length, next + reach + 1);
    for (let at = next; at < limit; at++) {
      if (before[at] !== key) continue;
      match[index] = at;
      next = at + 1;
      break;
    }
  }
  return match;
}
