/**
 * The `effect-tls` command line, built with `@effect/cli`: `probe`, `serve`, `cert inspect`,
 * `cert verify`. `run` turns arguments into an exit code (0 ok, 1 verification refused,
 * 2 connection or protocol failure, 64 bad usage) and prints a failure as one line.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as NodeKeyLog from "../../NodeKeyLog.js"
import * as NodeTlsBackend from "../../NodeTlsBackend.js"
import * as Cert from "./cert.js"
import { CliError, ExitCode, fromInput } from "./errors.js"
import * as Probe from "./probe.js"
import * as Serve from "./serve.js"

/** @internal */
export const version = "0.1.0"

/** An option with its description that may be left out. */
const optional = <A>(option: Options.Options<A>, description: string): Options.Options<Option.Option<A>> =>
  Options.optional(Options.withDescription(option, description))

/** An option with its description that may be given several times. */
const repeated = <A>(option: Options.Options<A>, description: string): Options.Options<Array<A>> =>
  Options.repeated(Options.withDescription(option, description))

/** An option with its description and the value it takes when left out. */
const defaulted = <A>(option: Options.Options<A>, description: string, fallback: A): Options.Options<A> =>
  Options.withDefault(Options.withDescription(option, description), fallback)

const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))

const keylog = Options.file("keylog").pipe(
  Options.withDescription("append the session secrets to FILE (SSLKEYLOGFILE format, for Wireshark): debugging only"),
  Options.optional
)

/** Runs `effect` with the `KeyLog` writing to `--keylog FILE`, when given. */
const withKeyLog = <A, E, R>(file: Option.Option<string>, effect: Effect.Effect<A, E, R>) =>
  Option.isNone(file)
    ? effect
    : Effect.provide(effect, Layer.mapError(NodeKeyLog.layerFile(file.value), fromInput("--keylog")))

const probeCommand = Command.make(
  "probe",
  {
    target: Args.text({ name: "HOST:PORT" }).pipe(Args.withDescription("where to connect (port 443 by default)")),
    servername: optional(
      Options.text("servername"),
      "the server identity: the SNI sent and the name the certificate must match"
    ),
    alpn: optional(Options.text("alpn"), "ALPN protocols to offer, comma-separated"),
    ca: optional(Options.file("ca"), "trust these CA certificates (PEM) instead of the system store"),
    cert: optional(Options.file("cert"), "a client certificate chain (PEM)"),
    key: optional(Options.file("key"), "the client certificate's private key (PEM)"),
    tls12: Options.boolean("tls1.2").pipe(Options.withDescription("TLS 1.2 only")),
    tls13: Options.boolean("tls1.3").pipe(Options.withDescription("TLS 1.3 only")),
    starttls: optional(Options.choice("starttls", ["smtp"]), "upgrade a plaintext protocol first"),
    timeout: defaulted(Options.integer("timeout"), "seconds for the TCP connect and for the handshake", 10),
    keylog,
    json
  },
  (options) => Effect.asVoid(withKeyLog(options.keylog, Probe.probe(options)))
).pipe(Command.withDescription(
  "Connect and report protocol, cipher, ALPN, SNI, the chain, the complete verification flags, channel-binding values, resumption and timings. Exit 0 ok, 1 verification refused, 2 connection or protocol failure, 64 bad usage."
))

const serveCommand = Command.make(
  "serve",
  {
    host: defaulted(Options.text("host"), "address to listen on", "127.0.0.1"),
    port: defaulted(Options.integer("port"), "port (0: any free port)", 0),
    cert: optional(Options.file("cert"), "the certificate chain (PEM)"),
    key: optional(Options.file("key"), "its private key (PEM)"),
    generate: repeated(
      Options.text("generate"),
      "generate a CA and a certificate for NAME (repeat, or comma-separated); prints the CA's path"
    ),
    sni: repeated(Options.text("sni"), "NAME=CERT,KEY: the certificate for clients asking for NAME (repeat)"),
    alpn: optional(Options.text("alpn"), "ALPN protocols, in order of preference, comma-separated"),
    clientAuth: defaulted(
      Options.choice("client-auth", ["none", "requested", "required"]),
      "ask clients for a certificate",
      "none"
    ),
    ca: optional(Options.file("ca"), "CAs that client certificates must chain to"),
    mode: defaulted(
      Options.choice("mode", ["echo", "reply"]),
      "echo: send back what arrives; reply: send the handshake report, then close",
      "echo"
    ),
    keylog,
    json
  },
  (options) => Effect.asVoid(withKeyLog(options.keylog, Serve.serve(options)))
).pipe(Command.withDescription(
  "A TLS server for trying things and for interop or fuzz testing. Prints its address on start, then one line per connection."
))

const inspectCommand = Command.make(
  "inspect",
  { file: Args.file({ name: "FILE" }).pipe(Args.withDescription("PEM certificates")), json },
  (options) => Effect.asVoid(Cert.inspect(options))
).pipe(
  Command.withDescription("Show each certificate of a PEM file: subject, issuer, validity, names, key, fingerprints.")
)

const verifyCommand = Command.make(
  "verify",
  {
    chain: Args.file({ name: "CHAIN" }).pipe(Args.withDescription("the chain to verify, leaf first (PEM)")),
    ca: Options.file("ca").pipe(Options.withDescription("the trust anchors (PEM)")),
    host: optional(Options.text("host"), "the identity the leaf must match"),
    time: optional(Options.text("time"), "verify at this time (ISO 8601, or seconds since the epoch)"),
    purpose: defaulted(Options.choice("purpose", ["server", "client"]), "what the leaf is for", "server"),
    json
  },
  (options) => Effect.asVoid(Cert.verify(options))
).pipe(Command.withDescription(
  "TlsDatabase.verifyChain's complete flags for a chain. Exit 0 when no flag is set, 1 otherwise."
))

const certCommand = Command.make("cert").pipe(
  Command.withDescription("Certificates: inspect, verify"),
  Command.withSubcommands([inspectCommand, verifyCommand])
)

/** @internal */
export const command = Command.make("effect-tls").pipe(
  Command.withDescription("Effect-native TLS: probe servers, serve TLS, inspect and verify certificates"),
  Command.withSubcommands([probeCommand, serveCommand, certCommand])
)

const cli = Command.run(command, { name: "effect-tls", version })

/**
 * Runs the CLI on `argv` (without node and script): succeeds with the exit code, having
 * printed a failure as one line on stderr.
 *
 * @internal
 */
export const run = (argv: ReadonlyArray<string>) =>
  cli(["node", "effect-tls", ...argv]).pipe(
    Effect.scoped,
    Effect.as(ExitCode.Ok as ExitCode),
    Effect.provide(NodeTlsBackend.layer),
    Effect.catchAll((error) => {
      if (ValidationError.isValidationError(error)) {
        // @effect/cli has printed the problem and the usage
        return Effect.succeed(ExitCode.Usage as ExitCode)
      }
      if (error instanceof CliError) {
        return Effect.as(Console.error(`effect-tls: ${error.message}`), error.exitCode)
      }
      return Effect.as(Console.error(`effect-tls: ${String(error)}`), ExitCode.Connection as ExitCode)
    }),
    Effect.catchAllDefect((defect) =>
      Effect.as(Console.error(`effect-tls: internal error: ${Cause.pretty(Cause.die(defect))}`), 70 as ExitCode)
    )
  )
