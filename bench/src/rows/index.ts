/** Every row of issue 8's table, in the order of the table. */
import type { Env, Row } from "../rounds.js"
import * as bulk from "./bulk.js"
import { churn } from "./churn.js"
import { full } from "./handshakes.js"
import { heap } from "./heap.js"
import { nonReading } from "./nonReading.js"
import { resumption } from "./resumption.js"
import { ttfb } from "./ttfb.js"

export const all = (env: Env): Array<Row> => [
  full(env, "p256"),
  full(env, "rsa"),
  resumption(env),
  ttfb(env),
  bulk.tcp64(env),
  bulk.tcp16(env),
  bulk.memory(env, 64 * 1024),
  bulk.memory(env, 16 * 1024),
  heap(env),
  churn(env),
  nonReading(env)
]
