/**
 * A CPU-bound pipeline for the worker-thread backend: index `i` counts the
 * primes in the `i`-th block of integers (a segmented sieve, tens of
 * milliseconds of pure computation) and writes one JSON file per block.
 *
 * The worker threads load this module and take the pipeline from its
 * `pipeline` export, so it is built at the top level from values that are the
 * same in every thread (constants, the working directory, environment
 * variables), never from anything a thread cannot see.
 */
import { Filter, Pipeline, Source } from "@curator/core"
import { FileSink } from "@curator/node"
import { Effect } from "effect"
import { resolve } from "node:path"

/** How many blocks, and how many integers in each. */
const blocks = 24
const blockSize = 2_000_000

/** One block of integers, `[from, to)`. */
export interface Block {
  readonly from: number
  readonly to: number
}

/** What is written for a block. */
export interface PrimeCount extends Block {
  readonly primes: number
  readonly largest: number | null
}

/** Counts the primes in `[from, to)` with a segmented sieve of Eratosthenes. */
const countPrimes = ({ from, to }: Block): PrimeCount => {
  const limit = Math.floor(Math.sqrt(to))
  const small = new Uint8Array(limit + 1)
  const composite = new Uint8Array(to - from)
  for (let p = 2; p <= limit; p++) {
    if (small[p] === 1) continue
    for (let m = p * p; m <= limit; m += p) small[m] = 1
    for (let m = Math.max(p * p, Math.ceil(from / p) * p); m < to; m += p) composite[m - from] = 1
  }
  let primes = 0
  let largest: number | null = null
  for (let n = Math.max(from, 2); n < to; n++) {
    if (composite[n - from] === 0) {
      primes++
      largest = n
    }
  }
  return { from, to, primes, largest }
}

const ranges = Source.make({
  name: "IntegerBlocks",
  params: { blocks, blockSize },
  length: blocks,
  items: (index) => Effect.succeed([{ from: index * blockSize, to: (index + 1) * blockSize }])
})

const sieve = Filter.map({ name: "CountPrimes", params: { method: "segmented-sieve" }, f: countPrimes })

/** Where the counts go: `./.curator-example/worker-pool` under the working directory. */
export const outputDir = resolve(".curator-example", "worker-pool")

export const pipeline = Pipeline.from(ranges).pipe(
  Pipeline.filter(sieve),
  Pipeline.write(FileSink.json<PrimeCount>({ dir: outputDir })),
  Pipeline.withOptions({ resume: true })
)
