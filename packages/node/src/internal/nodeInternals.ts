/**
 * The one module that touches node's private fields. Every other module of the engine uses
 * public node APIs only, and asks here for what node does not make public.
 *
 * Each private field is a `Feature`: detected once, on first use, by probing a real object
 * (a TLSSocket over an inert Duplex), never assumed. When a feature is missing (another Node
 * release, Bun, Deno) the engine takes the public fallback named beside it, or refuses with a
 * typed error; it never reads `undefined` and carries on. `report()` says which way each one
 * went; `test/NodeInternals.test.ts` fails loudly when this Node moved one of them.
 *
 * Runtimes other than Node add their detection here (and only here).
 *
 * @internal
 */
import * as Option from "effect/Option"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import * as runtime from "./runtime.js"

/** @internal */
export type FeatureName =
  | "readableState.ended"
  | "handle.verifyError"
  | "socket.servername"

/** @internal */
export interface Detection {
  readonly name: FeatureName
  /** The private field, found and behaving as expected. */
  readonly available: boolean
  /** What the engine does without it. */
  readonly fallback: string
  /** What the probe saw (for reports). */
  readonly detail: string
}

interface Probe {
  readonly socket: tls.TLSSocket
}

const withProbe = <A>(f: (probe: Probe) => A): A => {
  const inert = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback()
    }
  })
  inert.on("error", () => {})
  const socket = new tls.TLSSocket(inert, { isServer: true })
  socket.on("error", () => {})
  try {
    return f({ socket })
  } finally {
    socket.destroy()
    inert.destroy()
  }
}

const detectAll = (): Record<FeatureName, Detection> =>
  withProbe(({ socket }) => {
    const anySocket = socket as any
    const state = anySocket._readableState
    const readableEnded = typeof state === "object" && state !== null && state.ended === false
    const handle = anySocket._handle
    const verifyError = typeof handle === "object" && handle !== null && typeof handle.verifyError === "function"
    // node sets `servername` (null until the handshake names one) in TLSSocket's constructor
    const servername = "servername" in socket && anySocket.servername == null
    return {
      "readableState.ended": {
        name: "readableState.ended",
        available: readableEnded,
        fallback: "refuse requireCloseNotify: true with TlsGenericError Unavailable (truncation cannot be told)",
        detail: `typeof _readableState: ${typeof state}, ended: ${String(state?.ended)}`
      },
      "handle.verifyError": {
        name: "handle.verifyError",
        available: verifyError,
        fallback: "no engine verdict (engineFlags empty; core's verifier still decides, fail closed)",
        detail: `typeof _handle: ${typeof handle}, typeof verifyError: ${typeof handle?.verifyError}`
      },
      "socket.servername": {
        name: "socket.servername",
        available: servername,
        fallback: "record the client's SNI through the public SNICallback option",
        detail: `"servername" in TLSSocket: ${"servername" in socket}, value: ${String(anySocket.servername)}`
      }
    }
  })

let detected: Record<FeatureName, Detection> | undefined = undefined

const features = (): Record<FeatureName, Detection> => {
  if (detected === undefined) detected = detectAll()
  return detected
}

/**
 * What was detected, feature by feature.
 *
 * @internal
 */
export const report = (): ReadonlyArray<Detection> => Object.values(features())

/** @internal */
export const has = (name: FeatureName): boolean => features()[name].available

/**
 * Whether a readable stream has received its end of input (`push(null)`), even if its
 * buffered data was not read yet (`readableEnded` is true only once `'end'` was emitted).
 * This is how the bridge tells a close_notify (node:tls ends its readable side first) from a
 * bare FIN. Undefined when the feature is missing: the engine then refuses
 * `requireCloseNotify` (see `canTellTruncation`).
 *
 * @internal
 */
export const endOfInputReceived = (stream: Duplex): boolean | undefined =>
  has("readableState.ended") ? (stream as any)._readableState?.ended === true : undefined

/**
 * Whether truncation can be told from close_notify on the bridge.
 *
 * @internal
 */
export const canTellTruncation = (): boolean => has("readableState.ended")

/**
 * OpenSSL's verdict on the peer's chain, as tls.Server and tls.connect read it (a bare
 * server TLSSocket sets no `authorized`): the error code, or none when it verified.
 * Without the feature: the public `authorizationError` when set (Bun sets it on both sides),
 * none otherwise (core's verifier still runs on every chain).
 *
 * @internal
 */
export const verifyError = (socket: tls.TLSSocket): Option.Option<string> => {
  // Node: null or an Error with OpenSSL's code; Deno: "" or the code as a string; Bun: no
  // verifyError, but `authorizationError` set on every TLSSocket (see runtime.ts)
  const handle = (socket as any)._handle
  return Option.fromNullable(runtime.verifyErrorCode(
    has("handle.verifyError") ? () => handle?.verifyError?.() : undefined,
    socket.authorizationError
  ))
}

/**
 * Whether the server side needs the public SNICallback to learn the client's SNI.
 *
 * @internal
 */
export const serverNameNeedsCallback = (): boolean => !has("socket.servername")

/**
 * The SNI host name a server TLSSocket received (read at `secure`), or the one recorded by
 * the SNICallback fallback.
 *
 * @internal
 */
export const serverName = (socket: tls.TLSSocket, recorded: string | undefined): Option.Option<string> => {
  const name = has("socket.servername") ? (socket as any).servername : recorded
  return typeof name === "string" ? Option.some(name) : Option.none()
}

/**
 * For tests: pretend `name` is missing (or present) until the returned function restores it.
 *
 * @internal
 */
export const overrideFeature = (name: FeatureName, available: boolean): () => void => {
  const all = features()
  const saved = all[name]
  all[name] = { ...saved, available }
  return () => {
    all[name] = saved
  }
}
