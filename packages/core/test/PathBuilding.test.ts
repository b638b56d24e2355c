/**
 * Path building through a lattice of cross-signed alternatives (the shape of BetterTLS's
 * path-building suite): beside every CA of root → CA1 → ... → CA7 → leaf stands a copy with
 * the same name and key, issued by the same CA, that cannot be part of a valid path (expired,
 * signed with SHA-1, name-constrained away from the leaf, pathLenConstraint 0, not a CA, or
 * restricted to another EKU). 2^7 paths, one valid, the wrong copies given first: the
 * verifier must find the valid one within its bounds (32 paths, 64 signatures).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Certificate from "../src/Certificate.js"
import * as CertificateFlags from "../src/CertificateFlags.js"
import * as TlsDatabase from "../src/TlsDatabase.js"
import * as X from "./fixtures/x509.js"

const day = 86_400_000
const NOW = Date.UTC(2030, 0, 1)
const at = (offsetDays: number) => new Date(NOW + offsetDays * day)

type Wrong = "expired" | "sha1" | "nameConstraints" | "pathLen" | "notCa" | "eku"

const wrongCopy = (wrong: Wrong, base: Partial<X.Spec>): Partial<X.Spec> => {
  switch (wrong) {
    case "expired":
      return { ...base, notBefore: at(-100), notAfter: at(-1) }
    case "sha1":
      return { ...base, hash: "sha1" }
    case "nameConstraints":
      return { ...base, permittedDns: ["other.test"] }
    case "pathLen":
      return { ...base, ca: { pathLen: 0 } }
    case "notCa":
      return { ...base, ca: false }
    case "eku":
      return { ...base, eku: [X.EKU.clientAuth] }
  }
}

const lattice = (wrong: Wrong, depth: number) => {
  const root = X.ca("Lattice Root", { notBefore: at(-10), notAfter: at(1000) })
  const pool: Array<X.Issued> = []
  let issuer = root
  for (let k = 1; k <= depth; k++) {
    const base = { issuer, key: X.generateKey("ec256"), notBefore: at(-10), notAfter: at(100) }
    const good = X.ca(`Lattice CA ${k}`, base)
    pool.unshift(X.ca(`Lattice CA ${k}`, wrongCopy(wrong, base)), good)
    issuer = good
  }
  return { root, leaf: X.leaf(issuer, ["example.com"], { notBefore: at(-10), notAfter: at(100) }), pool }
}

describe("path building", () => {
  it.effect("finds the one valid path of a lattice of cross-signed alternatives, wrong turns first", () =>
    Effect.gen(function*() {
      for (const wrong of ["expired", "sha1", "nameConstraints", "pathLen", "notCa", "eku"] as const) {
        const { leaf, pool, root } = lattice(wrong, 7)
        const database = TlsDatabase.fromAnchors([yield* Certificate.fromDer(root.der)], { verdictCache: false })
        const chain = yield* Effect.forEach([leaf, ...pool], (i) => Certificate.fromDer(i.der))
        const flags = yield* database.verifyChain(chain, {
          purpose: "server",
          identity: "example.com",
          time: new Date(NOW)
        })
        assert.strictEqual(CertificateFlags.format(flags), "none", wrong)
        // without the good copies there is no valid path, and the problem is reported
        const wrongOnly = yield* database.verifyChain(chain.filter((_, i) => i === 0 || i % 2 === 1), {
          purpose: "server",
          identity: "example.com",
          time: new Date(NOW)
        })
        assert.isFalse(CertificateFlags.isEmpty(wrongOnly), wrong)
      }
    }))
})
