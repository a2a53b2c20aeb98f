/**
 * What an index is doing while it runs, for whoever watches it from outside
 * its fibers: when its current attempt started, which stage runs, how many
 * items reached the sink. Where the index runs on a thread whose event loop
 * a stage may block, the watcher (the parent) reads these from shared
 * memory to time the index out and to send heartbeats.
 */
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

/**
 * The probe of an index nobody watches. (A probe is passed to the index's
 * computation as an argument, not provided as a service: providing a
 * service per index costs more than the rest of a trivial index.)
 */
export const none: Probe = { attempt: ignore, stage: ignore, items: ignore }
