/**
 * x509-limbo conformance: every testcase of the frozen corpus goes through
 * `Verifier.verify` (what `TlsDatabase.verifyChain` delegates to). Deviations from the expected result are listed, with a
 * reason, in `limbo-exceptions.json`; the test fails on any new deviation and on any
 * exception that no longer applies.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Certificate from "../src/Certificate.js"
import * as CertificateFlags from "../src/CertificateFlags.js"
import * as Crl from "../src/Crl.js"
import * as Verifier from "../src/Verifier.js"

interface Testcase {
  readonly id: string
  readonly features: ReadonlyArray<string>
  readonly validation_kind: "SERVER" | "CLIENT"
  readonly trusted_certs: ReadonlyArray<string>
  readonly untrusted_intermediates: ReadonlyArray<string>
  readonly peer_certificate: string
  readonly validation_time: string | null
  readonly extended_key_usage: ReadonlyArray<string>
  readonly expected_peer_name: { readonly kind: string; readonly value: string } | null
  readonly max_chain_depth: number | null
  readonly crls: ReadonlyArray<string>
  readonly expected_result: "SUCCESS" | "FAILURE"
}

interface Exception {
  readonly id: string
  readonly result: "SKIPPED" | "ACCEPTED_INVALID" | "REJECTED_VALID"
  readonly reason: string
}

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, "../../..")
const corpusPath = path.join(repoRoot, "vendor/x509-limbo/limbo.json")
const exceptionsPath = path.join(here, "limbo-exceptions.json")

type Outcome = "SUCCESS" | "FAILURE"

const run = (tc: Testcase) =>
  Effect.gen(function*() {
    const anchors = yield* Effect.forEach(tc.trusted_certs, (pem) => Certificate.fromPem(pem))
    const intermediates = yield* Effect.forEach(tc.untrusted_intermediates, (pem) => Certificate.fromPem(pem))
    const leaf = yield* Certificate.fromPem(tc.peer_certificate)
    const crls = yield* Effect.forEach(tc.crls, (pem) => Crl.fromPem(pem))
    const verifier = Verifier.make({
      anchors: anchors.flat(),
      crls: crls.flat(),
      maxIntermediates: tc.max_chain_depth ?? undefined
    })
    const identity = tc.validation_kind === "SERVER" ? tc.expected_peer_name?.value : undefined
    const flags = yield* Verifier.verifyFlags(verifier, [...leaf, ...intermediates.flat()], {
      purpose: tc.validation_kind === "SERVER" ? "server" : "client",
      identity,
      time: tc.validation_time === null ? new Date() : new Date(tc.validation_time)
    })
    return { outcome: (CertificateFlags.isEmpty(flags) ? "SUCCESS" : "FAILURE") as Outcome, flags }
  }).pipe(
    // a certificate that does not even parse is a failed validation
    Effect.catchTag("CertificateError", () =>
      Effect.succeed({ outcome: "FAILURE" as Outcome, flags: CertificateFlags.make("GenericError") }))
  )

describe("x509-limbo", () => {
  it.live("matches the corpus, with only the listed exceptions", () =>
    Effect.gen(function*() {
      const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8")) as { readonly testcases: ReadonlyArray<Testcase> }
      const exceptions = JSON.parse(fs.readFileSync(exceptionsPath, "utf8")) as ReadonlyArray<Exception>
      const byId = new Map(exceptions.map((e) => [e.id, e]))
      const table = { pass: 0, skipped: 0, acceptedInvalid: 0, rejectedValid: 0 }
      const newDeviations: Array<string> = []
      const staleExceptions: Array<string> = []
      const started = Date.now()
      for (const tc of corpus.testcases) {
        const exception = byId.get(tc.id)
        if (exception?.result === "SKIPPED") {
          table.skipped++
          continue
        }
        const { flags, outcome } = yield* run(tc)
        if (outcome === tc.expected_result) {
          table.pass++
          if (exception !== undefined) staleExceptions.push(tc.id)
          continue
        }
        const result = outcome === "SUCCESS" ? "ACCEPTED_INVALID" : "REJECTED_VALID"
        if (result === "ACCEPTED_INVALID") table.acceptedInvalid++
        else table.rejectedValid++
        if (exception?.result !== result) {
          newDeviations.push(`${tc.id}: ${result} (flags: ${CertificateFlags.format(flags)})`)
        }
      }
      console.log(
        [
          `x509-limbo: ${corpus.testcases.length} testcases in ${Date.now() - started} ms`,
          "| pass | skipped | accepted invalid | rejected valid |",
          "|---|---|---|---|",
          `| ${table.pass} | ${table.skipped} | ${table.acceptedInvalid} | ${table.rejectedValid} |`,
          "exceptions (limbo-exceptions.json):",
          ...exceptions.map((e) => `- ${e.id} ${e.result}: ${e.reason}`)
        ].join("\n")
      )
      for (const id of byId.keys()) {
        if (!corpus.testcases.some((tc) => tc.id === id)) staleExceptions.push(`${id} (not in the corpus)`)
      }
      assert.deepStrictEqual(newDeviations, [], "new deviations from the corpus")
      assert.deepStrictEqual(staleExceptions, [], "exceptions that no longer apply")
      assert.strictEqual(table.rejectedValid, 0)
      assert.isAtMost(table.acceptedInvalid, 5)
    }), 120_000)

  it.live("rfc5280::serial::negative fails for its critical extKeyUsage, not for its serial", () =>
    // RFC 5280 4.1.2.2: "Certificate users SHOULD be prepared to gracefully handle" negative
    // serial numbers, so they are accepted (PKITS has a valid one). The corpus's leaf is still
    // refused, for a critical extKeyUsage (webpki::eku::ee-critical-eku, a CA/B Forum rule).
    Effect.gen(function*() {
      const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8")) as { readonly testcases: ReadonlyArray<Testcase> }
      const tc = corpus.testcases.find((t) => t.id === "rfc5280::serial::negative")!
      const anchors = yield* Effect.forEach(tc.trusted_certs, (pem) => Certificate.fromPem(pem))
      const leaf = yield* Certificate.fromPem(tc.peer_certificate)
      const result = yield* Verifier.make({ anchors: anchors.flat() }).verify(leaf, {
        purpose: "server",
        identity: tc.expected_peer_name?.value,
        time: new Date(tc.validation_time!)
      })
      assert.deepStrictEqual(result.reasons.map((r) => r.detail), ["critical extKeyUsage"])
    }))
})
