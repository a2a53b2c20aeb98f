/**
 * The units of one run, in memory shared by the parent and its worker
 * threads. Each thread claims the next unit itself, so it goes from one
 * index to the next without waiting for a message from the parent; the
 * parent raises a flag to stop them at the next index.
 *
 * Layout: `control` (Int32, atomic) holds the next unit to claim, the stop
 * flag, the failures so far and the error budget (a thread that reaches it
 * raises the stop flag), then per lane the unit it claimed last (-1 for
 * none); `plan` (Float64, written once before sharing) holds the number of
 * units, the start of each unit in the list of indices and one more for
 * the end, then the indices; `probe` holds per lane what its index is doing
 * (attempt start, stage, items), which the parent's watchdog reads.
 */
import type { Probe, Units } from "@curator/core/Remote"
import { Schema } from "effect"

/** The two shared buffers, as they are sent to a thread. */
export const Buffers = Schema.Struct({
  control: Schema.instanceOf(SharedArrayBuffer),
  plan: Schema.instanceOf(SharedArrayBuffer),
  /** Per lane, what its index is doing (see {@link probeOf}): 32 bytes each. */
  probe: Schema.instanceOf(SharedArrayBuffer)
})
export type Buffers = typeof Buffers.Type

const NEXT = 0
const STOP = 1
/** Failed indices so far, and the error budget (0: none): threads stop claiming once it is reached. */
const FAILED = 2
const BUDGET = 3
const CLAIMED = 4

/** Shares `units` among `lanes` lanes. */
export const make = (units: Units, lanes: number, failureBudget?: number): Buffers => {
  const control = new SharedArrayBuffer((CLAIMED + lanes) * Int32Array.BYTES_PER_ELEMENT)
  new Int32Array(control).fill(-1, CLAIMED)
  new Int32Array(control)[BUDGET] = failureBudget ?? 0
  const plan = new SharedArrayBuffer((2 + units.count + units.size) * Float64Array.BYTES_PER_ELEMENT)
  const view = new Float64Array(plan)
  view[0] = units.count
  let at = 2 + units.count
  for (let position = 0; position < units.count; position++) {
    const unit = units.indicesOf(position)
    view[1 + position] = at
    view.set(unit, at)
    at += unit.length
  }
  view[1 + units.count] = at
  const probe = new SharedArrayBuffer(lanes * PROBE_BYTES)
  new Int32Array(probe).fill(-1)
  return { control, plan, probe }
}

// A lane's probe: Float64 [attempt started at (epoch ms), stage order, items], then Int32 index (atomic, written last).
const PROBE_BYTES = 32

/** In a thread: the probe its lane's index writes to, for the parent's watchdog. */
export const probeOf = (buffers: Buffers, lane: number, index: number): Probe => {
  const numbers = new Float64Array(buffers.probe, lane * PROBE_BYTES, 3)
  const ids = new Int32Array(buffers.probe, lane * PROBE_BYTES + 24, 1)
  return {
    attempt: () => {
      numbers[0] = Date.now()
      numbers[2] = 0
      // After the time: a reader that sees this index sees its time.
      Atomics.store(ids, 0, index)
    },
    stage: (order) => {
      numbers[1] = order
    },
    items: (count) => {
      numbers[2] = numbers[2]! + count
    }
  }
}

/** In the parent: when the current attempt of `index` on `lane` started, its stage and items (undefined before it starts). */
export const readProbe = (
  buffers: Buffers,
  lane: number,
  index: number
): { readonly startedAt: number; readonly stage: number; readonly items: number } | undefined => {
  if (Atomics.load(new Int32Array(buffers.probe, lane * PROBE_BYTES + 24, 1), 0) !== index) return undefined
  const numbers = new Float64Array(buffers.probe, lane * PROBE_BYTES, 3)
  return { startedAt: numbers[0]!, stage: numbers[1]!, items: numbers[2]! }
}

/** The indices of unit `position`, as shared. */
export const unitAt = (buffers: Buffers, position: number): ReadonlyArray<number> => {
  const view = new Float64Array(buffers.plan)
  return Array.from(view.subarray(view[1 + position]!, view[2 + position]!))
}

/** Asks every thread to start no new index. */
export const requestStop = (buffers: Buffers): void => {
  Atomics.store(new Int32Array(buffers.control), STOP, 1)
}

export const stopRequested = (buffers: Buffers): boolean => Atomics.load(new Int32Array(buffers.control), STOP) === 1

/** In a thread: an index failed; once the budget is reached, no thread starts another. */
export const countFailure = (buffers: Buffers): void => {
  const control = new Int32Array(buffers.control)
  const failed = Atomics.add(control, FAILED, 1) + 1
  const budget = Atomics.load(control, BUDGET)
  if (budget > 0 && failed >= budget) Atomics.store(control, STOP, 1)
}

/** Whether every unit was claimed. */
export const exhausted = (buffers: Buffers): boolean =>
  Atomics.load(new Int32Array(buffers.control), NEXT) >= new Float64Array(buffers.plan)[0]!

/** The unit `lane` claimed last, or -1; forgotten with `forgetClaim` before a new thread serves the lane. */
export const claimedBy = (buffers: Buffers, lane: number): number => Atomics.load(new Int32Array(buffers.control), CLAIMED + lane)

export const forgetClaim = (buffers: Buffers, lane: number): void => {
  Atomics.store(new Int32Array(buffers.control), CLAIMED + lane, -1)
}

/**
 * In a thread: the indices `lane` computes, in order: `first` (what a dead
 * thread of the lane left), then each unit it claims, until none is left or
 * a stop is asked for (checked before every index).
 */
export function* indicesFor(buffers: Buffers, lane: number, first: ReadonlyArray<number>): Generator<number, void> {
  const control = new Int32Array(buffers.control)
  const view = new Float64Array(buffers.plan)
  const stopping = () => Atomics.load(control, STOP) === 1
  for (const index of first) {
    if (stopping()) return
    yield index
  }
  while (!stopping()) {
    const position = Atomics.add(control, NEXT, 1)
    if (position >= view[0]!) return
    // Recorded before the unit's first index is announced, so the parent
    // can hand it to a replacement if this thread dies in between.
    Atomics.store(control, CLAIMED + lane, position)
    for (let at = view[1 + position]!; at < view[2 + position]!; at++) {
      if (stopping()) return
      yield view[at]!
    }
  }
}
