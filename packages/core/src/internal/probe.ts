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

/** What a probe kept in memory tells its reader: items so far in the current attempt, and the stage running. */
export interface Reading {
  readonly items: number
  readonly stage: number
  /**
   * How long, in milliseconds, the reader in another process has seen this
   * reading unchanged (a runner answering the submitter's polls): the
   * watchdog then counts a stall from when the index last moved there, not
   * from when the poll first brought it here.
   */
  readonly quietMs?: number | undefined
}

/**
 * A probe kept in this process's memory, for a watcher in the same process
 * (the run's watchdog, a runner answering the submitter's progress polls):
 * one per lane, `reset` for each index, so starting an index allocates nothing.
 */
export const inMemory = (): Probe & { readonly read: () => Reading; readonly reset: () => void } => {
  let items = 0
  let stage = 0
  return {
    reset: () => {
      items = 0
      stage = 0
    },
    attempt: () => {
      items = 0
    },
    stage: (order) => {
      stage = order
    },
    items: (count) => {
      items += count
    },
    read: () => ({ items, stage })
  }
}
