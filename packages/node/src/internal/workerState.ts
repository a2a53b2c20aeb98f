/**
 * What a worker is doing, as `curator workers` and the dashboard show it:
 * idle, busy on an index, or stalled on it (the stall watchdog flagged the
 * index in the worker's heartbeat row), with the items the index has
 * produced so far. A progress row speaks only for the index it names: one
 * left from an earlier index (or run) is not the worker's state now.
 */
import type { CheckpointStore } from "@curator/core"
import type { Effect } from "effect"

export type WorkerState = "idle" | "busy" | "stalled"

type Progress = Effect.Effect.Success<CheckpointStore.Checkpoint["workerProgress"]>

/** The worker's state and its index's items so far (null when idle or not reported). */
export const withProgress = <W extends CheckpointStore.WorkerRow>(
  worker: W,
  progress: Progress
): W & { readonly state: WorkerState; readonly items: number | null } => {
  const beat = progress.get(worker.workerId)
  const busy = worker.currentIndex !== null
  const current = busy && beat !== undefined && beat.index === worker.currentIndex
  return { ...worker, state: current && beat.stalled ? "stalled" : busy ? "busy" : "idle", items: current ? beat.items : null }
}
