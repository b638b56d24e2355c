/**
 * Reading every PEM block of one label as DER objects, with typed errors.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { CertificateError } from "../X509Error.js"
import * as Der from "./der.js"

/**
 * Every `label` block of `pem`, each read with `fromDer`; `InvalidPem` when the text is no
 * PEM or holds no such block.
 *
 * @internal
 */
export const readBlocks = <A>(
  pem: string,
  label: string,
  fromDer: (der: Uint8Array) => Effect.Effect<A, CertificateError>
): Effect.Effect<ReadonlyArray<A>, CertificateError> =>
  Effect.suspend(() => {
    let blocks: Array<Der.PemBlock>
    try {
      blocks = Der.parsePem(pem).filter((block) => block.label === label)
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause)
      return Effect.fail(new CertificateError({ reason: "InvalidPem", detail, cause }))
    }
    if (blocks.length === 0) {
      return Effect.fail(new CertificateError({ reason: "InvalidPem", detail: `no ${label} block found` }))
    }
    return Effect.forEach(blocks, (block) => fromDer(block.der))
  })
