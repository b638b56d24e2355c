/**
 * The raw node:tls client of every TCP row: `tls.connect` on its own socket (`native`) or
 * over a plain JS Duplex wrapping a TCP socket (`duplex`), verifying the server with the
 * test root (OpenSSL's verdict, `authorized`) and the identity "localhost".
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { checkRaw, type Material } from "./material.js"
import type { Metrics, Path, Requests } from "./protocol.js"
import { SocketDuplex } from "./socketDuplex.js"
import { cpuMicros, idle, KiB, loops, median, now, once, payload, settledHeap } from "./util.js"

const connect = async (
  material: Material,
  port: number,
  path: Path,
  session?: Buffer | undefined,
  onSession?: (session: Buffer) => void
): Promise<tls.TLSSocket> => {
  const options: tls.ConnectionOptions = {
    servername: "localhost",
    secureContext: material.rawClientContext,
    ...(session === undefined ? {} : { session })
  }
  let socket: tls.TLSSocket
  if (path === "duplex") {
    const tcp = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
    await once(tcp, "connect")
    socket = tls.connect({ ...options, socket: new SocketDuplex(tcp) })
  } else {
    socket = tls.connect({ ...options, host: "127.0.0.1", port })
  }
  if (onSession !== undefined) socket.once("session", onSession)
  await once(socket, "secureConnect")
  socket.on("error", () => {})
  if (!socket.authorized) throw new Error(`raw node:tls did not verify: ${socket.authorizationError}`)
  return socket
}

const close = (socket: tls.TLSSocket) =>
  new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve()
    const timer = setTimeout(() => socket.destroy(), 2_000)
    socket.once("close", () => {
      clearTimeout(timer)
      resolve()
    })
    socket.end()
  })

export const handshakes = async (material: Material, args: Requests["handshakes"]): Promise<Metrics> => {
  let session: Buffer | undefined
  if (args.resume === "raw-reuse") {
    let got!: (session: Buffer) => void
    const arrived = new Promise<Buffer>((resolve) => (got = resolve))
    const first = await connect(material, args.port, args.path, undefined, got)
    session = await arrived
    await close(first)
  }
  let resumed = 0
  const cpu = cpuMicros()
  const start = now()
  await loops(args.count, args.concurrency, async (i) => {
    const socket = await connect(material, args.port, args.path, session)
    if (i === 0) checkRaw(socket)
    if (socket.isSessionReused()) resumed++
    await close(socket)
  })
  const ms = now() - start
  if (args.resume === "none" && resumed > 0) throw new Error(`${resumed} "full" raw handshakes resumed`)
  return { rate: args.count / (ms / 1000), cpuMs: (cpuMicros() - cpu) / 1000 / args.count, resumed, count: args.count }
}

export const ttfb = async (material: Material, args: Requests["ttfb"]): Promise<Metrics> => {
  const samples: Array<number> = []
  for (let i = 0; i < args.count; i++) {
    await idle()
    const start = now()
    const socket = await connect(material, args.port, args.path)
    const data = once(socket, "data")
    socket.write(new Uint8Array([120]))
    await data
    samples.push(now() - start)
    await close(socket)
  }
  return { ms: median(samples) }
}

export const bulk = async (material: Material, args: Requests["bulk"]): Promise<Metrics> => {
  const socket = await connect(material, args.port, args.path)
  checkRaw(socket)
  const acked = once(socket, "data")
  const chunk = payload(args.chunk)
  const cpu = cpuMicros()
  const start = now()
  let sent = 0
  while (sent < args.total) {
    const n = Math.min(chunk.length, args.total - sent)
    const ok = socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok) await once(socket, "drain")
  }
  await acked
  const ms = now() - start
  const cpuMsPerMB = (cpuMicros() - cpu) / 1000 / (args.total / 1e6)
  await close(socket)
  return { mbps: args.total / 1e6 / (ms / 1000), cpuMsPerMB }
}

let held: Array<tls.TLSSocket> = []

export const hold = async (material: Material, args: Requests["hold"]): Promise<Metrics> => {
  const before = await settledHeap()
  const sockets: Array<tls.TLSSocket> = []
  await loops(args.count, 32, async () => {
    sockets.push(await connect(material, args.port, args.path))
  })
  held = sockets
  const after = await settledHeap()
  return { heapKiB: (after - before) / KiB / args.count }
}

export const release = async (): Promise<void> => {
  const sockets = held
  held = []
  for (const socket of sockets) socket.destroy()
}

/** 4 KiB echoed per connection, `loops` clients until the time is up: connections per second. */
export const churn = async (material: Material, args: Requests["churn"]): Promise<Metrics> => {
  const message = payload(4 * KiB)
  const deadline = now() + args.seconds * 1000
  let done = 0
  let failed = 0
  const start = now()
  const loop = async () => {
    while (now() < deadline) {
      try {
        const socket = await connect(material, args.port, "native")
        let received = 0
        const echoed = new Promise<void>((resolve) => {
          socket.on("data", (data: Uint8Array) => {
            received += data.length
            if (received >= message.length) resolve()
          })
        })
        socket.write(message)
        await echoed
        await close(socket)
        done++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: args.loops }, loop))
  if (failed > done / 100) throw new Error(`churn: ${failed} connections failed, ${done} done`)
  return { rate: done / ((now() - start) / 1000), failed }
}
