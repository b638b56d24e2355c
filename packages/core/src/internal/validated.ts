/**
 * Options objects already checked: a program that opens many connections usually passes the
 * same options object every time, or a fresh copy of the same values (`{ ...options, host }`
 * per connection), and decoding it with its `Schema` on every connection costs more than the
 * rest of making the connection. The schema stays the only judge: an object is checked again
 * unless it holds the same values as one that passed (its own fields in the same order, and
 * those of the plain objects and arrays inside it, compared by identity), so an object
 * changed after it passed is checked anew. The schema's verdict depends on nothing else (a
 * field that is not a plain object or array, such as a `CertifiedKey`, is immutable), so a
 * copy of values that passed passes too. Failures are not kept.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"

/** What an object held when it passed: its values, with nested plain objects and arrays unfolded. */
type Snapshot = ReadonlyArray<unknown>

/** Plain objects and arrays are unfolded this deep (options nest two levels: `sni.timeout`). */
const maxDepth = 4

const isPlain = (u: unknown): u is object => {
  if (typeof u !== "object" || u === null) return false
  if (Array.isArray(u)) return true
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const snapshot = (value: object, depth: number, out: Array<unknown>): Array<unknown> => {
  const keys = Object.keys(value)
  out.push(keys.length)
  for (const key of keys) {
    const field = (value as Record<string, unknown>)[key]
    out.push(key, field)
    if (depth < maxDepth && isPlain(field)) snapshot(field, depth + 1, out)
  }
  return out
}

/**
 * Whether `value` holds what `expected` holds from position `at` on, compared in place (no
 * snapshot of `value` is made: this runs for every connection): the position after it, or -1.
 */
const matchesAt = (value: object, expected: Snapshot, at: number, depth: number): number => {
  const keys = Object.keys(value)
  if (expected[at] !== keys.length) return -1
  let next = at + 1
  for (const key of keys) {
    const field = (value as Record<string, unknown>)[key]
    if (expected[next] !== key || expected[next + 1] !== field) return -1
    next += 2
    if (depth < maxDepth && isPlain(field)) {
      next = matchesAt(field, expected, next, depth + 1)
      if (next < 0) return -1
    }
  }
  return next
}

const sameAs = (value: object, expected: Snapshot): boolean => matchesAt(value, expected, 0, 0) === expected.length

/** How many recently passed snapshots per schema are kept for copies (most recent first). */
const recentCapacity = 8

interface Passed {
  /** Objects that passed, with what they held then. */
  readonly objects: WeakMap<object, Snapshot>
  /** The values of the last objects that passed, for fresh copies of them. */
  readonly recent: Array<Snapshot>
}

const passed = new WeakMap<Schema.Schema<any, any, never>, Passed>()

/**
 * Whether `input` is an unchanged object that passed, or a copy of the values of one of the
 * last that passed, under `schema` (no decode needed): a synchronous check, for callers that
 * skip their own Effect steps when it holds.
 *
 * @internal
 */
export const isRemembered = (schema: Schema.Schema<any, any, never>, input: object | undefined): boolean => {
  if (input === undefined || !isPlain(input)) return false
  const known = passed.get(schema)
  if (known === undefined) return false
  const previous = known.objects.get(input)
  if (previous !== undefined && sameAs(input, previous)) return true
  for (const recent of known.recent) if (recent !== previous && sameAs(input, recent)) return true
  return false
}

/**
 * Runs `check` (the schema's decode of `input`) unless `input` is an unchanged object that
 * passed, or a copy of the values of one of the last that passed, under the same schema.
 *
 * @internal
 */
export const remembered = <E>(
  schema: Schema.Schema<any, any, never>,
  input: object | undefined,
  check: Effect.Effect<unknown, E>
): Effect.Effect<void, E> => {
  if (input === undefined || !isPlain(input)) return Effect.asVoid(check)
  if (isRemembered(schema, input)) return Effect.void
  return Effect.map(check, () => {
    let entry = passed.get(schema)
    if (entry === undefined) {
      entry = { objects: new WeakMap(), recent: [] }
      passed.set(schema, entry)
    }
    const values = snapshot(input, 0, [])
    entry.objects.set(input, values)
    entry.recent.unshift(values)
    if (entry.recent.length > recentCapacity) entry.recent.pop()
  })
}
