/**
 * `bench files`'s measurement, in a process of its own as compiled
 * JavaScript against Curator's dist (bench/compiled.ts): prints its one
 * JSON line.
 *
 *   node filesRun.mjs N   (compiled: bench/compiled.ts)
 */
import { files } from "./files.js"

console.log(JSON.stringify(await files(Number(process.argv[2]))))
