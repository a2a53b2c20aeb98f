/**
 * What computing one index produced (`makeComputeIndex`), before anything is
 * recorded: the shape the run loop records, the retries wrap and the wire
 * report carries across threads and runners.
 */
import type { Cause } from "effect"
import type { LogEntry, OutputCheck, StageTiming } from "../CheckpointStore.js"
import type { FailureClass } from "../FailurePolicy.js"
import type { ArtifactWritten } from "./context.js"
import type { RecordedSpan } from "./recordingTracer.js"

/** What computing one index produced, before anything is recorded. */
export type Computed<E> =
  | {
    readonly _tag: "Success"
    readonly paths: ReadonlyArray<string>
    readonly wallTimeNs: number
    /** 0 when memory is not tracked, as the reference records it. */
    readonly peakMemoryBytes: number
    readonly stages: ReadonlyArray<StageTiming>
    readonly artifacts: ReadonlyArray<ArtifactWritten>
    readonly logs: ReadonlyArray<LogEntry>
    /** Spans recorded where the index ran, when it ran elsewhere (see recordingTracer.ts); empty here. */
    readonly spans: ReadonlyArray<RecordedSpan>
    /** How many attempts the index took (FailurePolicy); 1 when absent. */
    readonly attempts?: number | undefined
    /** Its outputs' sizes (and hashes), measured where it ran, when the run records them (`verifyOutputs`). */
    readonly outputChecks?: ReadonlyArray<OutputCheck> | undefined
  }
  | {
    readonly _tag: "Failure"
    readonly message: string
    readonly cause: Cause.Cause<E>
    readonly wallTimeNs: number
    readonly peakMemoryBytes: number
    readonly logs: ReadonlyArray<LogEntry>
    /** Spans recorded where the index ran, when it ran elsewhere (see recordingTracer.ts); empty here. */
    readonly spans: ReadonlyArray<RecordedSpan>
    readonly attempts?: number | undefined
    /** The failure's class, decided where the index ran (FailurePolicy). */
    readonly failureClass?: FailureClass | undefined
    /** The order of the stage it failed in (0 the source, then the filters, the sink last), when known. */
    readonly stage?: number | undefined
  }
