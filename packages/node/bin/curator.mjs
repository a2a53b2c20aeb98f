#!/usr/bin/env node
/**
 * The `curator` executable. Built (`dist/bin.js` present), it runs that.
 * In the repository without a build, it runs the TypeScript sources: node
 * again, with the `@curator/source` condition and TypeScript support
 * (`source.mjs`: tsx), on `src/bin.ts`, passing signals on and exiting with
 * the child's code.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const built = new URL("../dist/bin.js", import.meta.url)

if (existsSync(built)) {
  await import(built.href)
} else {
  const source = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
  const child = spawn(
    process.execPath,
    ["--conditions=@curator/source", "--import", new URL("./source.mjs", import.meta.url).href, source, ...process.argv.slice(2)],
    { stdio: "inherit" }
  )
  // A terminal's Ctrl-C reaches the child too (same process group); other signals are passed on.
  const forward = (signal) => () => {
    if (signal !== "SIGINT" || !process.stdin.isTTY) child.kill(signal)
  }
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, forward(signal))
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal === null ? 1 : 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 0))
  })
}
