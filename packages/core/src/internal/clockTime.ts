/**
 * Which clock judges certificate validity: the `Clock`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as CertificateFlags from "../CertificateFlags.js"

/** How far the `Clock` may be from the wall clock and still count as the wall clock. */
const tolerance = 5 * 60_000

/**
 * The engine's flags as far as they stand on the `Clock`'s time. An engine like OpenSSL
 * checks validity periods against the wall clock; core's verifier checks them against
 * Effect's `Clock`. When the two read the same time (a live program) the engine's verdict is
 * kept whole, as a second opinion. When the `Clock` reads another time (TestClock under
 * `it.effect`, or a program that sets its own clock) the engine's `Expired` and
 * `NotActivated` are about another instant and are dropped: core's verification at the
 * `Clock`'s time decides validity, everything else the engine says still counts.
 *
 * @internal
 */
export const engineFlagsAtClockTime = (
  engineFlags: CertificateFlags.CertificateFlags
): Effect.Effect<CertificateFlags.CertificateFlags> =>
  !CertificateFlags.has(engineFlags, "Expired") && !CertificateFlags.has(engineFlags, "NotActivated")
    ? Effect.succeed(engineFlags)
    : Effect.map(
      Clock.currentTimeMillis,
      (now) =>
        Math.abs(now - Date.now()) <= tolerance
          ? engineFlags
          : CertificateFlags.difference(engineFlags, ["Expired", "NotActivated"])
    )
