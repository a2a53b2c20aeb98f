/**
 * Heartbeats and the stall watchdog of a run. Each index in flight has a
 * probe (internal/probe.ts) that its computation writes to — here in
 * memory, on a thread in shared memory the parent reads — and one fiber of
 * the run reads them all every `interval`: it refreshes each busy worker's
 * heartbeat with the items its index has produced so far (the writer
 * batches them with everything else), and flags an index that produced
 * nothing new for `stallAfter`: a warning line, `stalled` in its worker's
 * progress row, a progress event — and with `onStall: "interrupt"`, the
 * index is given up as on a timeout.
 */
import { Duration, Effect, FiberRef } from "effect"
import type { Checkpoint } from "../CheckpointStore.js"
import { describeDuration } from "../FailurePolicy.js"
import type { ProgressHandler } from "../Progress.js"
import * as Timestamp from "../Timestamp.js"
import { asFramework } from "./logCapture.js"
import { inMemory, none, type Probe, type Reading } from "./probe.js"

/** What a watcher reads of an index in flight. */
export type Progress = Reading

/**
 * What the watchdog keeps of one lane (worker id): the index it runs and what
 * was last seen of it. Kept for the lane's life and reused by each index it
 * runs, so that starting an index allocates nothing.
 */
interface Watched {
  /** The index in flight, or -1 between indices. */
  index: number
  read: () => Progress | undefined
  /** Called (with the stage it stalled in) when the index stalls and the policy says to interrupt it. */
  interrupt: ((stage: number) => void) | undefined
  lastItems: number
  lastStage: number
  lastChange: number
  stalled: boolean
}

export interface WatchdogOptions {
  readonly checkpoint: Checkpoint | undefined
  readonly onProgress: ProgressHandler | undefined
  /** Stall after this long without a new item or stage, or never. */
  readonly stallAfter: Duration.Duration | undefined
  readonly onStall: "warn" | "interrupt"
  /** How often heartbeats are refreshed and stalls looked for. */
  readonly interval: Duration.Duration
  readonly stageName: (order: number) => string
}

/**
 * Whether a run keeps heartbeats and the stall watchdog. Always on for
 * users; the overhead benchmark turns it off to measure what they cost.
 */
export const enabled = FiberRef.unsafeMake(true)

/** The lanes' side of the watchdog: how they register the indices they start. */
export interface Watchdog {
  /** An index starts here: its probe, watched until `finished`. */
  readonly local: (workerId: string, index: number, interrupt?: (stage: number) => void) => Probe
  /** An index starts elsewhere; `read` gives its progress as the other side shares it. */
  readonly remote: (workerId: string, index: number, read: (() => Progress | undefined) | undefined) => void
  readonly finished: (workerId: string) => void
  /** How often progress is read (undefined: the watchdog is off), for backends that must fetch it from elsewhere. */
  readonly interval: Duration.Duration | undefined
}

const off: Watchdog = { local: () => none, remote: () => {}, finished: () => {}, interval: undefined }

/** Starts the watchdog in the run's scope. */
export const start = (options: WatchdogOptions) =>
  Effect.gen(function*() {
    if (!(yield* FiberRef.get(enabled))) return off
    const inFlight = new Map<string, Watched>()
    const probes = new Map<string, ReturnType<typeof inMemory>>()
    const stallMs = options.stallAfter === undefined ? undefined : Duration.toMillis(options.stallAfter)

    const tick = Effect.gen(function*() {
      if (inFlight.size === 0) return
      const now = Date.now()
      const at = yield* Timestamp.now
      for (const [workerId, entry] of inFlight) {
        if (entry.index < 0) continue
        const progress = entry.read()
        if (progress === undefined) continue
        if (progress.items !== entry.lastItems || progress.stage !== entry.lastStage) {
          entry.lastItems = progress.items
          entry.lastStage = progress.stage
          entry.lastChange = now
          entry.stalled = false
        } else if (stallMs !== undefined && !entry.stalled && now - entry.lastChange >= stallMs) {
          entry.stalled = true
          yield* asFramework(Effect.logWarning(
            `index ${entry.index} on worker ${workerId.slice(0, 8)} has produced nothing new for ${describeDuration(Duration.millis(now - entry.lastChange))} ` +
              `in stage ${options.stageName(progress.stage)} (${progress.items} items so far): stalled` +
              (options.onStall === "interrupt" ? "; interrupting it" : "")
          ))
          options.onProgress?.({ _tag: "IndexStalled", index: entry.index, workerId, items: progress.items })
          if (options.onStall === "interrupt") entry.interrupt?.(progress.stage)
        }
        if (options.checkpoint !== undefined) {
          yield* options.checkpoint.heartbeat({ workerId, index: entry.index, items: progress.items, stalled: entry.stalled, at })
        }
      }
    })
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.interval), Effect.ignore(tick))))

    const track = (workerId: string, index: number, read: () => Progress | undefined, interrupt?: (stage: number) => void) => {
      const entry = inFlight.get(workerId)
      if (entry === undefined) {
        inFlight.set(workerId, { index, read, interrupt, lastItems: 0, lastStage: -1, lastChange: Date.now(), stalled: false })
        return
      }
      entry.index = index
      entry.read = read
      entry.interrupt = interrupt
      entry.lastItems = 0
      entry.lastStage = -1
      entry.lastChange = Date.now()
      entry.stalled = false
    }
    const watchdog: Watchdog = {
      local: (workerId, index, interrupt) => {
        let probe = probes.get(workerId)
        if (probe === undefined) {
          probe = inMemory()
          probes.set(workerId, probe)
        }
        probe.reset()
        track(workerId, index, probe.read, interrupt)
        return probe
      },
      remote: (workerId, index, read) => {
        if (read !== undefined) track(workerId, index, read)
      },
      finished: (workerId) => {
        const entry = inFlight.get(workerId)
        if (entry !== undefined) entry.index = -1
      },
      interval: options.interval
    }
    return watchdog
  })
