#!/usr/bin/env node
// The `aibrix-cache` command: runs the service from the built JavaScript when it
// is there (an installed package), else from the TypeScript sources, which
// Node runs directly since 22.18.
import { existsSync } from "node:fs"

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`aibrix-cache needs Node >= 22.19; this is Node ${process.versions.node}`)
  process.exit(1)
}
const built = new URL("../dist/src/main.js", import.meta.url)
await import(existsSync(built) ? built.href : new URL("../src/main.ts", import.meta.url).href)
