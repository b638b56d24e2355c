/**
 * `serve --sni NAME=CERT,KEY`: the certificates by server name, for `TlsServer`'s `sni` option
 * (which reads the client's ClientHello); an unknown name gets the default certificate.
 *
 * @internal
 */
import type * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { usage } from "./errors.js"
import { loadCertifiedKey } from "./probe.js"

/** @internal */
export interface SniEntry {
  readonly name: string
  readonly certificate: CertifiedKey.CertifiedKey
}

/** `NAME=CERT,KEY` (NAME may be `*.example.com`). */
export const parseSni = (spec: string) =>
  Effect.gen(function*() {
    const match = /^([^=]+)=([^,]+),(.+)$/.exec(spec)
    if (match === null) return yield* Effect.fail(usage(`--sni ${spec}: expected NAME=CERT,KEY`))
    const certificate = yield* loadCertifiedKey(Option.some(match[2]!), Option.some(match[3]!))
    return { name: match[1]!.toLowerCase(), certificate: certificate! } satisfies SniEntry
  })

/** The entry for `name`: an exact name first, then a `*.` wildcard of one label. */
export const select = (entries: ReadonlyArray<SniEntry>, name: Option.Option<string>): SniEntry | undefined => {
  if (Option.isNone(name)) return undefined
  const exact = entries.find((entry) => entry.name === name.value)
  if (exact !== undefined) return exact
  const dot = name.value.indexOf(".")
  return dot < 0 ? undefined : entries.find((entry) => entry.name === `*${name.value.slice(dot)}`)
}
