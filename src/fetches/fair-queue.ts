/** One group's waiting items, oldest first, read from a moving head. */
interface Group<T> {
  readonly key: string;
  items: T[];
  head: number;
}

const sizeOf = (group: Group<unknown>) => group.items.length - group.head;

/**
 * Items waiting their turn, grouped by a key (for reverse DNS, the address's /24 or /64), taken
 * round-robin between groups so that a group with thousands waiting cannot make the others wait
 * behind all of them. When full, the caller makes room from the largest group. Every operation
 * is O(1), whatever the number of groups or items.
 */
export class FairQueue<T> {
  /** Groups with items waiting, in the order they take their turns. */
  private readonly turns = new Map<string, Group<T>>();
  /** Groups by how many items they hold, to find the largest without a scan. */
  private readonly bySize = new Map<number, Set<Group<T>>>();
  private largest = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(key: string, item: T): void {
    let group = this.turns.get(key);
    if (!group) this.turns.set(key, (group = { key, items: [], head: 0 }));
    this.resized(group, () => group.items.push(item));
  }

  /** The oldest item of the group whose turn it is; that group's next turn comes after every other group's. */
  takeNext(): T | undefined {
    const group = this.turns.values().next().value;
    if (!group) return undefined;
    const item = this.takeOldest(group);
    // Map keeps insertion order: deleting and setting again sends the group to the back of the line.
    if (sizeOf(group) > 0) {
      this.turns.delete(group.key);
      this.turns.set(group.key, group);
    }
    return item;
  }

  /** The oldest item of the group holding the most: what goes first when the queue is full. */
  takeOldestOfLargest(): T | undefined {
    const group = this.bySize.get(this.largest)?.values().next().value;
    return group && this.takeOldest(group);
  }

  /** Takes `item` out, wherever it waits; false when it is not waiting (any more). */
  remove(key: string, item: T): boolean {
    const group = this.turns.get(key);
    const index = group ? group.items.indexOf(item, group.head) : -1;
    if (!group || index < 0) return false;
    // Items of a group usually leave in the order they came: this is the head, and the splice is the exception.
    if (index === group.head) this.takeOldest(group);
    else this.resized(group, () => group.items.splice(index, 1));
    return true;
  }

  /** Takes the group's oldest item; a group left empty leaves the turns. */
  private takeOldest(group: Group<T>): T {
    let item!: T;
    this.resized(group, () => {
      item = group.items[group.head]!;
      group.items[group.head++] = undefined as T;
      if (group.head * 2 > group.items.length) {
        group.items = group.items.slice(group.head);
        group.head = 0;
      }
    });
    return item;
  }

  /** Runs a change of the group's items and keeps the count, the size index, the largest size and the turns up to date. */
  private resized(group: Group<T>, change: () => void): void {
    const before = sizeOf(group);
    change();
    const after = sizeOf(group);
    this.count += after - before;
    if (before > 0) {
      const same = this.bySize.get(before)!;
      same.delete(group);
      if (same.size === 0) this.bySize.delete(before);
    }
    if (after > 0) {
      let same = this.bySize.get(after);
      if (!same) this.bySize.set(after, (same = new Set()));
      same.add(group);
    } else {
      this.turns.delete(group.key);
    }
    if (after > this.largest) this.largest = after;
    while (this.largest > 0 && !this.bySize.has(this.largest)) this.largest--;
  }
}
