#!/usr/bin/env node
// The workspace's `effect-tls`: runs the TypeScript sources through tsx.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/bin.ts")
