/**
 * The units of one run, in memory shared by the parent and its worker
 * threads. Each thread claims the next unit itself, so it goes from one
 * index to the next without waiting for a message from the parent; the
 * parent raises a flag to stop them at the next index.
 *
 * Layout: `control` (Int32, atomic) holds the next unit to claim, the stop
 * flag, then per lane the unit it claimed last (-1 for none); `plan`
 * (Float64, written once before sharing) holds the number of units, the
 * start of each unit in the list of indices and one more for the end, then
 * the indices.
 */
import type { Units } from "@curator/core/Remote"
import { Schema } from "effect"

/** The two shared buffers, as they are sent to a thread. */
export const Buffers = Schema.Struct({
  control: Schema.instanceOf(SharedArrayBuffer),
  plan: Schema.instanceOf(SharedArrayBuffer)
})
export type Buffers = typeof Buffers.Type

const NEXT = 0
const STOP = 1
const CLAIMED = 2

/** Shares `units` among `lanes` lanes. */
export const make = (units: Units, lanes: number): Buffers => {
  const control = new SharedArrayBuffer((CLAIMED + lanes) * Int32Array.BYTES_PER_ELEMENT)
  new Int32Array(control).fill(-1, CLAIMED)
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
  return { control, plan }
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
