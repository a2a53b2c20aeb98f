import { Effect } from "effect"
import { makeBulkDatabase } from "../../packages/node/test/fixtures/bulkDatabase.js"
const n = Number(process.argv[2])
const dir = process.argv[3]
const t = performance.now()
const db = await Effect.runPromise(makeBulkDatabase({ n, dbDir: dir, written: Number(process.argv[4] ?? 1) }))
console.log(db, ((performance.now() - t) / 1000).toFixed(1), "s")
