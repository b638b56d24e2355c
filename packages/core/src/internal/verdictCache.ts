/**
 * The verdict cache of a `TlsDatabase`: the flags `verifyChain` computed for a chain, kept
 * so that the next connection presenting the same chain skips the path search and the
 * signature checks (OpenSSL has checked them too). The policy is not cached: it runs on
 * every connection.
 *
 * A verdict is a pure function of the database (this cache belongs to one), the chain's
 * bytes (keyed by each certificate's SHA-256), the purpose, the identity and the time. Time
 * enters only through comparisons with the validity dates of the certificates involved
 * (the chain's, the database's anchors and intermediates) and the CRLs' update dates. A
 * cached verdict is therefore reused only at a time that lies between the same two
 * neighbouring boundaries as the time it was computed at: then every such comparison, and
 * so the verdict, is the same as a fresh one. This holds backwards too (a test clock may go
 * back) and covers notBefore as well as the earliest notAfter and a CRL's nextUpdate.
 *
 * For each date `v` the boundaries are `v` and `v + 1` (where `t < v`, `t <= v`, `t > v`
 * or `t >= v` can change, in milliseconds) and the next whole second after `v` (where
 * they change when the verifier truncates `t` to seconds, as RFC 5280 dates are).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Certificate, CertificateChain } from "../Certificate.js"
import * as Flags from "../CertificateFlags.js"
import type { CertificateFlags } from "../CertificateFlags.js"
import type { VerifyOptions } from "../TlsDatabase.js"

/** @internal */
export interface VerdictCache {
  readonly get: (key: string, time: number) => CertificateFlags | undefined
  readonly set: (key: string, chain: CertificateChain, time: number, flags: CertificateFlags) => void
}

interface Entry {
  readonly from: number
  readonly until: number
  readonly flags: CertificateFlags
}

const boundaries = (dates: ReadonlyArray<number>): Array<number> => {
  const out: Array<number> = []
  for (const v of dates) out.push(v, v + 1, Math.floor(v / 1000) * 1000 + 1000)
  return out
}

/** The dates of certificates that affect a verdict. */
export const certificateDates = (certificates: ReadonlyArray<Certificate>): Array<number> =>
  certificates.flatMap((certificate) => [certificate.notBefore.getTime(), certificate.notAfter.getTime()])

/** `[from, until)`: the span around `time` that no boundary crosses. */
const span = (sorted: ReadonlyArray<number>, time: number): readonly [number, number] => {
  // the first boundary above `time`, by binary search
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle] <= time) low = middle + 1
    else high = middle
  }
  return [low > 0 ? sorted[low - 1] : -Infinity, low < sorted.length ? sorted[low] : Infinity]
}

/**
 * The key of a verification: every option but the time, and every certificate's SHA-256 (hex,
 * computed once when the certificate was parsed). The usual options of a handshake (purpose
 * and identity only) make a key without JSON; the identity is length-prefixed, so no two
 * option sets share a key. Any other option makes a JSON key, which starts differently.
 */
export const key = (chain: CertificateChain, options: VerifyOptions): string => {
  let out: string
  if (
    options.email === undefined && options.keyUsage === undefined && options.extendedKeyUsage === undefined &&
    options.policy === undefined && options.revocation === undefined
  ) {
    const identity = options.identity
    out = identity === undefined ? `${options.purpose}:-` : `${options.purpose}:${identity.length}:${identity}`
  } else {
    out = JSON.stringify([
      options.purpose,
      options.identity ?? null,
      options.email ?? null,
      options.keyUsage ?? null,
      options.extendedKeyUsage ?? null,
      options.policy ?? null,
      options.revocation ?? null
    ])
  }
  for (const certificate of chain) out += `\u0000${certificate.fingerprintSha256}`
  return out
}

/**
 * `verify` with the verdicts kept in `cache`. A hit answers at once (no promise, no
 * signature check).
 *
 * @internal
 */
export const cached = (
  cache: VerdictCache,
  verify: (chain: CertificateChain, options: VerifyOptions) => Effect.Effect<CertificateFlags>
) => {
  const atTime = (chain: CertificateChain, options: VerifyOptions, time: number) => {
    const k = key(chain, options)
    const hit = cache.get(k, time)
    if (hit !== undefined) return Effect.succeed(hit)
    return Effect.map(verify(chain, { ...options, time: new Date(time) }), (flags) => {
      cache.set(k, chain, time, flags)
      return flags
    })
  }
  return (chain: CertificateChain, options: VerifyOptions): Effect.Effect<CertificateFlags> =>
    options.time === undefined
      ? Effect.flatMap(Clock.currentTimeMillis, (time) => atTime(chain, options, time))
      : atTime(chain, options, options.time.getTime())
}

/**
 * A cache of at most `capacity` verdicts (least recently used dropped first) for a database
 * whose own time-dependent inputs (anchors, intermediates, CRL update dates) are `dates`.
 *
 * @internal
 */
export const make = (dates: ReadonlyArray<number>, capacity: number): VerdictCache => {
  const databaseBoundaries = boundaries(dates).sort((a, b) => a - b)
  const usable = databaseBoundaries.every(Number.isFinite)
  const entries = new Map<string, Entry>()
  /** The key used last (the map's last): a hit on it needs no reordering. */
  let newest: string | undefined = undefined
  return {
    get: (key, time) => {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (time < entry.from || time >= entry.until) {
        entries.delete(key)
        if (newest === key) newest = undefined
        return undefined
      }
      // most recently used last (the same chain as the last connection's is there already)
      if (key !== newest) {
        entries.delete(key)
        entries.set(key, entry)
        newest = key
      }
      // (a copy, so that the cache keeps its own; no flags need none)
      return entry.flags.size === 0 ? Flags.empty : new Set(entry.flags)
    },
    set: (key, chain, time, flags) => {
      const chainBoundaries = boundaries(certificateDates(chain))
      if (!usable || !Number.isFinite(time) || !chainBoundaries.every(Number.isFinite)) return
      const [dbFrom, dbUntil] = span(databaseBoundaries, time)
      const [chainFrom, chainUntil] = span(chainBoundaries.sort((a, b) => a - b), time)
      entries.delete(key)
      entries.set(key, {
        from: Math.max(dbFrom, chainFrom),
        until: Math.min(dbUntil, chainUntil),
        flags: new Set(flags)
      })
      newest = key
      if (entries.size > capacity) entries.delete(entries.keys().next().value!)
    }
  }
}
