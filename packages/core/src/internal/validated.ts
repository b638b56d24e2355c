/**
 * Options objects already checked: a program that opens many connections usually passes the
 * same options object every time, and decoding it with its `Schema` on every connection
 * costs more than the rest of making the connection. The schema stays the only judge: an
 * object is checked again unless it is the same object, with the same values, as one that
 * passed (its own fields, and those of the plain objects and arrays inside it, compared by
 * identity), so an object changed after it passed is checked anew. Failures are not kept.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type { TlsConfigError } from "../TlsError.js"
import * as TlsOptions from "../TlsOptions.js"

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

const sameAs = (value: object, expected: Snapshot): boolean => {
  const now = snapshot(value, 0, [])
  if (now.length !== expected.length) return false
  for (let i = 0; i < now.length; i++) if (now[i] !== expected[i]) return false
  return true
}

const passed = new WeakMap<Schema.Schema<any, any, never>, WeakMap<object, Snapshot>>()

/**
 * `TlsOptions.validate`, remembered per options object (and schema): the same unchanged
 * object passes at once the next time.
 *
 * @internal
 */
export const validateOnce = <A, I>(
  schema: Schema.Schema<A, I, never>,
  subject: string,
  input: object | undefined
): Effect.Effect<void, TlsConfigError> => {
  if (input === undefined || !isPlain(input)) return Effect.asVoid(TlsOptions.validate(schema, subject, input))
  let objects = passed.get(schema)
  const known = objects?.get(input)
  if (known !== undefined && sameAs(input, known)) return Effect.void
  return Effect.map(TlsOptions.validate(schema, subject, input), () => {
    if (objects === undefined) {
      objects = new WeakMap()
      passed.set(schema, objects)
    }
    objects.set(input, snapshot(input, 0, []))
  })
}
