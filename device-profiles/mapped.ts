import { ANY, type Segment } from './path.js';

/**
 * The fields a shape reads, as a tree, to find the ones it does not (promise 2: no part
 * of a message is dropped without a trace). A leaf covers its whole subtree.
 */
export interface FieldTree {
  leaf: boolean;
  readonly children: Map<Segment, FieldTree>;
}

export const fieldTree = (): FieldTree => ({ leaf: false, children: new Map() });

export function addField(tree: FieldTree, segments: readonly Segment[]): void {
  let node = tree;
  for (const s of segments) {
    if (node.leaf) return;
    let next = node.children.get(s);
    if (!next) node.children.set(s, (next = fieldTree()));
    node = next;
  }
  node.leaf = true;
  node.children.clear();
}

/** Calls `found(path, value)` for every field of `value` the tree does not cover. */
export function unmappedFields(value: unknown, tree: FieldTree, prefix: string, found: (path: string, value: unknown) => void): void {
  if (tree.leaf || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child = tree.children.get(i) ?? tree.children.get(ANY);
      const path = `${prefix}[${i}]`;
      if (child) unmappedFields(value[i], child, path, found);
      else found(path, value[i]);
    }
    return;
  }
  for (const key in value as Record<string, unknown>) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const child = tree.children.get(key);
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (child) unmappedFields(v, child, path, found);
    else found(path, v);
  }
}
