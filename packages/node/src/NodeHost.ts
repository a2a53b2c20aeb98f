/**
 * The host facts of a Node process for `@curator/core`'s `Host` service:
 * pid, host name, working directory, CPU count, and a memory meter that sees
 * through garbage collections.
 */
import { Host } from "@curator/core"
import type { FileSystem } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Layer } from "effect"
import * as os from "node:os"
import * as v8 from "node:v8"

/** Memory in use by this thread: the V8 heap plus memory held outside it (buffers, typed arrays). */
const inUse = (): number => {
  const heap = v8.getHeapStatistics()
  return heap.used_heap_size + heap.external_memory
}

/**
 * A meter for this thread. Memory in use drops when a collection runs, which
 * would hide data an index held before it; so when a reading is lower than
 * the previous one, the levels just before the collections since then
 * (from V8's GC profiler, restarted only then) count as seen too.
 */
const makeMeter = (): Host.MemoryMeter => {
  let last = inUse()
  let profiler = new v8.GCProfiler()
  profiler.start()
  /** What collections showed since `collections` was last asked: the highest level before one, the lowest after one. */
  let seen: { highestBefore: number; lowestAfter: number } | undefined
  /** Reads the collections since the profiler last started into `seen`, and restarts it. */
  const readProfiler = () => {
    const statistics = profiler.stop()?.statistics ?? []
    profiler = new v8.GCProfiler()
    profiler.start()
    for (const { afterGC, beforeGC } of statistics) {
      const before = beforeGC.heapStatistics.usedHeapSize + beforeGC.heapStatistics.externalMemory
      const after = afterGC.heapStatistics.usedHeapSize + afterGC.heapStatistics.externalMemory
      seen = { highestBefore: Math.max(seen?.highestBefore ?? 0, before), lowestAfter: Math.min(seen?.lowestAfter ?? after, after) }
    }
    return seen
  }
  const collections = () => {
    const result = readProfiler()
    seen = undefined
    return result
  }
  return {
    current: inUse,
    sample: () => {
      const now = inUse()
      const peak = now < last ? Math.max(now, readProfiler()?.highestBefore ?? 0) : now
      last = now
      return peak
    },
    collections
  }
}

let meter: Host.MemoryMeter | undefined

/** This process's host facts; the memory meter is made once per thread, on first use. */
export const hostInfo = (): Host.HostInfo => ({
  pid: process.pid,
  hostname: os.hostname(),
  workingDirectory: process.cwd(),
  cpus: os.availableParallelism(),
  memory: (meter ??= makeMeter())
})

/** Provides `Host` with this process's facts. */
export const layer: Layer.Layer<Host.Host> = Layer.sync(Host.Host, hostInfo)

/**
 * What core reads from the platform: the host facts and the file system
 * (output checks). Node's store layers provide it too, so a run recording
 * into SQLite or PostgreSQL from Node records this process's facts.
 */
export const platform: Layer.Layer<Host.Host | FileSystem.FileSystem> = Layer.merge(layer, NodeFileSystem.layer)
