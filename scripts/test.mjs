// `pnpm test`: makes sure the interop peers are installed (`peers.mjs`), then runs `vitest run`
// (arguments pass through: `pnpm test packages/node -t interop`).
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { ensurePeers } from "./peers.mjs"
import { root } from "./workspace.mjs"

ensurePeers("pnpm test")

const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs")
const result = spawnSync(process.execPath, [vitest, "run", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" })
process.exit(result.status ?? 1)
