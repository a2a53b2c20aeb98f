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
 * What the watchdog knows of one worker's index in flight. A worker runs
 * one index at a time, so its slot (and its local probe) is made when it
 * starts its first index and reset for each next one: nothing is allocated
 * per index.
 */
interface Slot {
  busy: boolean
  index: number
  read: () => Progress | undefined
  /** Called (with the stage it stalled in) when the index stalls and the policy says to interrupt it. */
  interrupt: ((stage: number) => void) | undefined
  lastItems: number
  lastStage: number
  lastChange: number
  stalled: boolean
  /** The probe of the worker's indices computed here (made on its first one). */
  probe: LocalProbe | undefined
}

/** A probe kept in this process's memory (`probe.ts`), read by the watchdog. */
type LocalProbe = ReturnType<typeof inMemory>

const noProgress = () => undefined

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
  /**
   * An index starts elsewhere; `read` gives its progress as the other side
   * shares it, `interrupt` (when the other side can) gives it up there.
   */
  readonly remote: (
    workerId: string,
    index: number,
    read: (() => Progress | undefined) | undefined,
    interrupt?: (stage: number) => void
  ) => void
  readonly finished: (workerId: string) => void
  /** How often progress is read (undefined: the watchdog is off), for backends that must fetch it from elsewhere. */
  readonly interval: Duration.Duration | undefined
}

const off: Watchdog = { local: () => none, remote: () => {}, finished: () => {}, interval: undefined }

/** Starts the watchdog in the run's scope. */
export const start = (options: WatchdogOptions) =>
  Effect.gen(function*() {
    if (!(yield* FiberRef.get(enabled))) return off
    const slots = new Map<string, Slot>()
    let busy = 0
    const stallMs = options.stallAfter === undefined ? undefined : Duration.toMillis(options.stallAfter)

    const tick = Effect.gen(function*() {
      if (busy === 0) return
      const now = Date.now()
      const at = yield* Timestamp.now
      for (const [workerId, entry] of slots) {
        if (!entry.busy) continue
        // Read before anything yields: the slot may be reused by the worker's next index meanwhile.
        const { index, interrupt } = entry
        const progress = entry.read()
        if (progress === undefined) continue
        let stalled = entry.stalled
        const quietSince = now - (progress.quietMs ?? 0)
        if (progress.items !== entry.lastItems || progress.stage !== entry.lastStage) {
          entry.lastItems = progress.items
          entry.lastStage = progress.stage
          entry.lastChange = quietSince
          entry.stalled = false
          stalled = false
        } else if (quietSince < entry.lastChange) {
          entry.lastChange = quietSince
        }
        if (stallMs !== undefined && !entry.stalled && now - entry.lastChange >= stallMs) {
          entry.stalled = true
          stalled = true
          yield* asFramework(Effect.logWarning(
            `index ${index} on worker ${workerId.slice(0, 8)} has produced nothing new for ${describeDuration(Duration.millis(now - entry.lastChange))} ` +
              `in stage ${options.stageName(progress.stage)} (${progress.items} items so far): stalled` +
              (options.onStall !== "interrupt"
                ? ""
                : interrupt !== undefined
                ? "; interrupting it"
                : "; not interrupted: it runs on another machine, where only its indexTimeout can stop it")
          ))
          options.onProgress?.({ _tag: "IndexStalled", index, workerId, items: progress.items })
          if (options.onStall === "interrupt") interrupt?.(progress.stage)
        }
        if (options.checkpoint !== undefined) {
          yield* options.checkpoint.heartbeat({ workerId, index, items: progress.items, stalled, at })
        }
      }
    })
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.interval), Effect.ignore(tick))))

    const slotOf = (workerId: string): Slot => {
      let slot = slots.get(workerId)
      if (slot === undefined) {
        slot = {
          busy: false,
          index: 0,
          read: noProgress,
          interrupt: undefined,
          lastItems: 0,
          lastStage: -1,
          lastChange: 0,
          stalled: false,
          probe: undefined
        }
        slots.set(workerId, slot)
      }
      return slot
    }
    const track = (slot: Slot, index: number, read: () => Progress | undefined, interrupt?: (stage: number) => void) => {
      if (!slot.busy) busy++
      slot.busy = true
      slot.index = index
      slot.read = read
      slot.interrupt = interrupt
      slot.lastItems = 0
      slot.lastStage = -1
      slot.lastChange = Date.now()
      slot.stalled = false
    }
    const watchdog: Watchdog = {
      local: (workerId, index, interrupt) => {
        const slot = slotOf(workerId)
        const probe = slot.probe ??= inMemory()
        probe.reset()
        track(slot, index, probe.read, interrupt)
        return probe
      },
      remote: (workerId, index, read, interrupt) => {
        if (read !== undefined) track(slotOf(workerId), index, read, interrupt)
      },
      finished: (workerId: string) => {
        const slot = slots.get(workerId)
        if (slot === undefined || !slot.busy) return
        slot.busy = false
        slot.interrupt = undefined
        busy--
      },
      interval: options.interval
    }
    return watchdog
  })
