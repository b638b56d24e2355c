/**
 * A plain JS Duplex over a net.Socket: what node:tls sees when a user gives it any JS
 * stream (the baseline of effect-tls's bridge path).
 */
import type * as net from "node:net"
import { Duplex } from "node:stream"

const KiB = 1024

export class SocketDuplex extends Duplex {
  constructor(private readonly socket: net.Socket) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * KiB, writableHighWaterMark: 64 * KiB })
    socket.pause()
    socket.on("data", (chunk) => {
      if (!this.push(chunk)) socket.pause()
    })
    socket.on("end", () => this.push(null))
    socket.on("error", (error) => this.destroy(error))
  }
  override _read(): void {
    this.socket.resume()
  }
  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, callback)
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback)
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy()
    callback(error)
  }
}
