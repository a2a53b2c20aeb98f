/**
 * `bench formats`'s measurement, in a process of its own as compiled
 * JavaScript against Curator's dist (bench/compiled.ts): prints its one
 * JSON line.
 *
 *   node formatsRun.mjs ROWS   (compiled: bench/compiled.ts)
 */
import { formats } from "./formats.js"

console.log(JSON.stringify(await formats(Number(process.argv[2]))))
