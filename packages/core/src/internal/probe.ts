/**
 * What an index is doing while it runs, for whoever watches it from outside
 * its fibers: when its current attempt started, which stage runs, how many
 * items reached the sink. Where the index runs on a thread whose event loop
 * a stage may block, the watcher (the parent) reads these from shared
 * memory to time the index out and to send heartbeats.
 */
import { Context } from "effect"

/** Receives an index's progress; each call must be cheap (a store into memory). */
export interface Probe {
  /** An attempt of the index starts (at `Date.now()`). */
  readonly attempt: () => void
  /** The stage of this order runs now. */
  readonly stage: (order: number) => void
  /** `count` more items reached the sink. */
  readonly items: (count: number) => void
}

const ignore = () => {}

/** The probe of the fiber's index; by default nothing watches. */
export class IndexProbe extends Context.Reference<IndexProbe>()("@curator/core/IndexProbe", {
  defaultValue: (): Probe => none
}) {}

export const none: Probe = { attempt: ignore, stage: ignore, items: ignore }
