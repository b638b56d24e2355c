/**
 * The CLI's one error type, its exit codes and the single line it prints.
 *
 * @internal
 */
import * as Data from "effect/Data"

/** @internal */
export const ExitCode = {
  Ok: 0,
  /** the peer's certificate was refused (or `cert verify` found flags) */
  Verification: 1,
  /** the connection or the TLS protocol failed */
  Connection: 2,
  /** bad usage: arguments, unreadable or invalid input files */
  Usage: 64
} as const

/** @internal */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode]

/** @internal */
export class CliError extends Data.TaggedError("CliError")<{
  readonly exitCode: ExitCode
  /** the typed reason: the failing error's tag and reason, e.g. `TlsBadCertificateError/BadCertificate` */
  readonly reason: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const usage = (detail: string, cause?: unknown): CliError =>
  new CliError({ exitCode: ExitCode.Usage, reason: "Usage", detail, cause })

/** The typed reason of any error value: `Tag/reason` when it has both. */
export const reasonOf = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return "Unknown"
  const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : "Error"
  const reason = "reason" in error && typeof error.reason === "string" ? error.reason : undefined
  return reason === undefined ? tag : `${tag}/${reason}`
}

/** @internal */
export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message.split("\n")[0]! : String(error)

/** Input errors (a file that cannot be read or parsed) are bad usage. */
export const fromInput = (what: string) => (error: unknown): CliError =>
  new CliError({
    exitCode: ExitCode.Usage,
    reason: reasonOf(error),
    detail: `${what}: ${messageOf(error)}`,
    cause: error
  })
