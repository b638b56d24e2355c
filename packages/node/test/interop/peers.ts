/**
 * Command lines of the interop peers: OpenSSL's `s_server` / `s_client` and GnuTLS's
 * `gnutls-serv` / `gnutls-cli`, all on 127.0.0.1, each a scoped `Peer`.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Peer from "./Peer.js"

export interface Listening {
  readonly peer: Peer.Peer
  readonly port: number
}

/**
 * `openssl s_server` on `127.0.0.1:0`: it prints `ACCEPT 127.0.0.1:<port>` once it listens, so
 * no port is guessed. Its stdin stays an open pipe (on stdin EOF s_server drops the
 * connection), so `peer.write` sends lines to the connected client in the default mode.
 */
export const sServer = (args: ReadonlyArray<string>): Effect.Effect<Listening, Peer.PeerError, Scope.Scope> =>
  Effect.map(
    Peer.spawn("openssl", ["s_server", "-accept", "127.0.0.1:0", "-naccept", "1", ...args], {
      ready: /^ACCEPT 127\.0\.0\.1:(\d+)\s*$/m
    }),
    (peer) => ({ peer, port: Number(peer.readyMatch![1]) })
  )

/** `sServer` with a PKI's certificate chain and key, plus `extra` arguments. */
export const sServerWith = (
  server: { readonly chainFile: string; readonly keyFile: string },
  extra: ReadonlyArray<string> = []
): Effect.Effect<Listening, Peer.PeerError, Scope.Scope> =>
  sServer(["-cert", server.chainFile, "-key", server.keyFile, ...extra])

/** `openssl s_client` to our server on 127.0.0.1. */
export const sClient = (
  port: number,
  args: ReadonlyArray<string>
): Effect.Effect<Peer.Peer, Peer.PeerError, Scope.Scope> =>
  Peer.spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, ...args])

/**
 * `gnutls-serv` (it has no bind-address option and cannot report a port it picked: the port
 * comes from `Peer.freePort`, with a retry should another process take it meanwhile).
 * Ready when it prints `... listening on IPv4 ... port <port>...done`.
 */
export const gnutlsServ = (args: ReadonlyArray<string>): Effect.Effect<Listening, Peer.PeerError, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* Peer.freePort
    const peer = yield* Peer.spawn("gnutls-serv", ["-p", String(port), ...args], {
      ready: /listening on IPv4 \S+ port \d+\.\.\.done/
    })
    return { peer, port }
  }).pipe(
    Effect.retry({
      while: (error) => error.reason === "Exited" && /bind|in use/i.test(error.output),
      schedule: Schedule.recurs(3)
    })
  )

/** `gnutls-cli` to our server on 127.0.0.1, with `localhost` as SNI and the name verified. */
export const gnutlsCli = (
  port: number,
  args: ReadonlyArray<string>
): Effect.Effect<Peer.Peer, Peer.PeerError, Scope.Scope> =>
  Peer.spawn("gnutls-cli", [
    "-p",
    String(port),
    "--sni-hostname",
    "localhost",
    "--verify-hostname",
    "localhost",
    ...args,
    "127.0.0.1"
  ])

/** GnuTLS priority strings. */
export const gnutlsPriority = {
  "TLSv1.3": "NORMAL:-VERS-ALL:+VERS-TLS1.3",
  "TLSv1.2": "NORMAL:-VERS-ALL:+VERS-TLS1.2"
} as const

/** OpenSSL's version flags. */
export const opensslVersion = {
  "TLSv1.3": "-tls1_3",
  "TLSv1.2": "-tls1_2"
} as const
